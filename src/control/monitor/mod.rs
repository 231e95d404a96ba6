//! The webplatform's monitor WebSocket (`MONITOR_WS_PORT`, 8001), for the programs that drive it.
//!
//! The SIMPLE Unity plugin's editor tool lets a Unity developer press Play and have the
//! middleware select the model that matches their scene and start it in GAMA: it speaks the
//! socket the webplatform's own admin UI used (protocol.md §8; [`wire`] for the messages). Here
//! it acts on the same session as the admin page: a selection, launch, pause, resume, stop or a
//! removed player shows on the page and goes into the audit trail with the client's address.
//!
//! What such a client relies on, and the relay keeps to: every question gets one answer, to the
//! asker alone, in order, and nothing else comes unasked but `json_state`; `json_state` comes on
//! connecting, on every change, and at least every `monitor.refresh_ms` (the editor tool drops a
//! socket that stays silent 2 s, and pings do not count); a launch from the monitor is never held
//! back by the model's minimum of players (the headsets join once the experiment is open). Bad
//! input is logged and ignored, never a reason to close anything.

pub(crate) mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::Request as Handshake;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::admin::{App, to_the_end_via};
use crate::control::audit::Via;
use crate::control::operator::OpError;
use crate::control::packages::Catalog;
use crate::control::said::{Code, Said};
use crate::server::access::{Guesses, same_token};
use crate::server::listen::{self, Listener};
use crate::support::pace::LogLimiter;
use wire::Request;

/// Frames waiting for one monitor client; a client that lets them pile up is let go.
const QUEUE: usize = 64;

/// Bound on a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest time between two `json_state` pushes caused by changes.
const PUSH_MIN_INTERVAL: Duration = Duration::from_millis(100);

static BAD_INPUT: LogLimiter = LogLimiter::new(Duration::from_secs(5));

/// What the monitor socket needs besides the relay's handles.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The relay's handles (the admin page's).
    pub app: App,
    /// The token a client must give (`?token=` or `Authorization: Bearer`) when the socket is
    /// reachable from the network.
    pub token: Option<Arc<str>>,
    /// Wrong tokens, per source.
    pub guesses: Guesses,
}

/// Accepts monitor clients on `listeners` until shutdown.
pub(crate) fn serve(listeners: Vec<TcpListener>, endpoint: Endpoint) {
    let settings = &endpoint.app.config.monitor;
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(settings.max_message_bytes))
        .max_frame_size(Some(settings.max_message_bytes));
    for socket in listeners {
        let (shutdown, tracker) = (endpoint.app.shutdown.clone(), endpoint.app.tracker.clone());
        let (endpoint, slots) = (endpoint.clone(), slots.clone());
        let listener = Listener {
            socket,
            what: "monitor",
            per_second: None,
        };
        listen::spawn(listener, shutdown, &tracker, move |stream, peer| {
            let permit = slots.clone().try_acquire_owned().ok();
            let endpoint = endpoint.clone();
            endpoint.app.tracker.clone().spawn(
                async move {
                    let Some(ws) = handshake(stream, peer, &endpoint, ws_config).await else {
                        return;
                    };
                    let Some(_permit) = permit else {
                        let max = endpoint.app.config.monitor.max_connections;
                        warn!(max, "too many monitor clients (monitor.max_connections)");
                        return listen::refuse(ws, CloseCode::Again, "too many monitor clients")
                            .await;
                    };
                    run(ws, peer, endpoint.app).await;
                }
                .instrument(info_span!("monitor", %peer)),
            );
        });
    }
}

/// The WebSocket handshake, with the token when one is needed. `None`: turned away (a plain TCP
/// probe, as the editor tool makes before connecting, ends here without a word in the log).
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    endpoint: &Endpoint,
    ws_config: WebSocketConfig,
) -> Option<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let mut given = None;
    // tungstenite's callback type: its error is the HTTP answer, big by nature.
    #[allow(clippy::result_large_err)]
    let read_token = |request: &Handshake, response| {
        given = crate::gama::tools::token_of(request);
        Ok(response)
    };
    let accepted = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(stream, read_token, Some(ws_config)),
    )
    .await;
    let Ok(Ok(ws)) = accepted else {
        debug!("no WebSocket handshake (a port probe?)");
        return None;
    };
    if let Some(token) = &endpoint.token {
        if !given.as_deref().is_some_and(|g| same_token(g, token)) {
            let wait = endpoint.guesses.failed(peer.ip(), "the monitor socket");
            tokio::time::sleep(wait).await;
            let reason = "this socket needs the relay's token: ws://host:port/?token=…";
            listen::refuse(ws, CloseCode::Policy, reason).await;
            return None;
        }
        endpoint.guesses.succeeded(peer.ip());
    }
    Some(ws)
}

/// Serves one monitor client until it leaves or the relay stops.
async fn run(ws: tokio_tungstenite::WebSocketStream<TcpStream>, peer: SocketAddr, app: App) {
    debug!("a monitor client connected");
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
    let client = Client { tx, peer };
    // On connecting: the state, then the selected model's settings.
    client.send(wire::json_state(&crate::admin::view::snapshot(&app)));
    if let Some(model) = app.operator.selected_model() {
        client.send(wire::json_settings(&model));
    }
    let pushes = app
        .tracker
        .spawn(push_states(client.clone(), app.clone()).in_current_span());
    let writer = app.tracker.spawn(
        async move {
            while let Some(text) = rx.recv().await {
                let write = sink.send(Message::Text(text.into()));
                if !matches!(
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, write).await,
                    Ok(Ok(()))
                ) {
                    return;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        .in_current_span(),
    );
    loop {
        let frame = tokio::select! {
            () = app.shutdown.cancelled() => break,
            () = client.tx.closed() => break,
            f = stream.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => handle(&app, &client, text.as_str()).await,
            // The webplatform read binary frames as text.
            Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                Ok(text) => handle(&app, &client, text).await,
                Err(_) => bad_input("a binary frame that is not UTF-8 text"),
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    pushes.abort();
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    debug!("a monitor client left");
}

/// A monitor client, as the rest of this module writes to it.
#[derive(Clone)]
struct Client {
    tx: mpsc::Sender<String>,
    peer: SocketAddr,
}

impl Client {
    /// Queues a message; a client that does not read is let go rather than kept waiting for.
    fn send(&self, text: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(text) {
            warn!(peer = %self.peer, "a monitor client does not read its messages; letting it go");
        }
    }
}

/// `json_state` on every change (at most every [`PUSH_MIN_INTERVAL`]) and at least every
/// `monitor.refresh_ms`, so the connection is never silent long enough for the editor tool to drop
/// it.
async fn push_states(client: Client, app: App) {
    let refresh = Duration::from_millis(app.config.monitor.refresh_ms);
    let mut changes = app.changes.subscribe();
    let mut gama = app.gama.subscribe();
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            r = gama.changed() => if r.is_err() { return },
            () = tokio::time::sleep(refresh) => {}
        }
        changes.borrow_and_update();
        gama.borrow_and_update();
        client.send(wire::json_state(&crate::admin::view::snapshot(&app)));
        tokio::time::sleep(PUSH_MIN_INTERVAL).await;
    }
}

fn bad_input(what: impl std::fmt::Display) {
    if let Some(suppressed) = BAD_INPUT.check() {
        warn!(suppressed, "a monitor client sent {what}; ignored");
    }
}

/// Acts on one message of a client.
async fn handle(app: &App, client: &Client, text: &str) {
    let request = match wire::parse(text) {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    let catalog = app.operator.catalog();
    match request {
        Request::Catalog => client.send(wire::catalog_list(&catalog)),
        Request::ModelByIndex(index) => send_model(app, client, &catalog, index),
        Request::Select(index) => select(app, client, &catalog, index),
        Request::Launch => launch_anyway(app, client),
        Request::Pause => pause(app, client),
        Request::Resume => resume(app, client),
        Request::Stop => stop(app, client),
        Request::RemovePlayer(Some(id)) => remove_player(app, client, &id),
        Request::RemovePlayer(None) => bad_input("remove_player_headset without an id"),
        Request::AddPlayer(id) => info!(
            player = id.as_deref().unwrap_or(""),
            "add_player_headset: headsets join the game by themselves once connected; nothing to do"
        ),
        Request::ScreenControl => client.send(wire::screen_control_unsupported()),
        Request::TryConnection => {}
        Request::Unknown(kind) => bad_input(format_args!("an unknown message type {kind:?}")),
    }
}

/// The index of the catalog's model at `index`, if there is one.
fn model_at(catalog: &Catalog, index: Option<i64>) -> Option<usize> {
    let i = usize::try_from(index?).ok()?;
    catalog.models.get(i).map(|_| i)
}

/// `get_simulation_by_index`: the model's settings. As the webplatform did, asking for a model
/// selects it; a model that does not exist gets no answer.
fn send_model(app: &App, client: &Client, catalog: &Catalog, index: Option<i64>) {
    match model_at(catalog, index) {
        Some(i) => match app.operator.select_model(i) {
            Ok(model) => client.send(wire::model_by_index(&model)),
            Err(e) => warn!(error = %e, "cannot select the model a monitor client asked for"),
        },
        None => bad_input(format_args!(
            "get_simulation_by_index for a model that does not exist ({index:?}, {} models); no answer",
            catalog.models.len()
        )),
    }
}

/// `send_simulation`: selects the model (in the audit trail), and always answers, as the clients
/// wait for it, with the model selected now.
fn select(app: &App, client: &Client, catalog: &Catalog, index: Option<i64>) {
    let selected = match model_at(catalog, index) {
        Some(i) => {
            let result = app.operator.select_model(i);
            let name = result.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            let action = Said::new(
                Code::Select,
                [("index", json!(i)), ("model", json!(name))],
                format!("select model {i} ({name})"),
            );
            record(
                app,
                client,
                action,
                result.as_ref().map(drop).map_err(Said::from),
            );
            result.ok()
        }
        None => {
            bad_input(format_args!(
                "send_simulation for a model that does not exist ({index:?}); the selection stays"
            ));
            app.operator.selected_model()
        }
    };
    // Always one answer, as the clients wait for it: the model selected now.
    if let Some(model) = selected {
        client.send(wire::model_by_index(&model));
    }
}

/// `launch_experiment`, whatever the model's minimum of players: the editor tool launches with no
/// headset yet, they join once the experiment is open.
fn launch_anyway(app: &App, client: &Client) {
    let operator = app.operator.clone();
    let action = Said::new(Code::LaunchAnyway, [], "launch anyway");
    operate(
        app,
        client,
        action,
        async move { operator.launch(true).await },
    );
}

/// `pause_experiment`.
fn pause(app: &App, client: &Client) {
    let operator = app.operator.clone();
    let action = Said::new(Code::Pause, [], "pause");
    operate(app, client, action, async move { operator.pause().await });
}

/// `resume_experiment`.
fn resume(app: &App, client: &Client) {
    let operator = app.operator.clone();
    let action = Said::new(Code::Resume, [], "resume");
    operate(app, client, action, async move { operator.resume().await });
}

/// `stop_experiment`.
fn stop(app: &App, client: &Client) {
    let operator = app.operator.clone();
    let action = Said::new(Code::Stop, [], "stop");
    operate(app, client, action, async move { operator.stop().await });
}

/// `remove_player_headset`: the player removed, in the audit trail.
fn remove_player(app: &App, client: &Client, id: &str) {
    let result = app.operator.remove_player(id);
    let action = Said::new(
        Code::Remove,
        [("player", json!(id))],
        format!("remove {id}"),
    );
    record(app, client, action, result.map_err(|e| Said::from(&e)));
}

/// Runs an operation on GAMA's experiment with its audit entry, in a task of the server's: it
/// sees its end even if the client goes away (the editor tool often does, mid-launch).
fn operate(
    app: &App,
    client: &Client,
    action: Said,
    work: impl Future<Output = Result<(), OpError>> + Send + 'static,
) {
    let (app2, peer) = (app.clone(), client.peer);
    app.tracker.spawn(
        async move {
            let verb = action.text.clone();
            if let Err(e) = to_the_end_via(&app2, peer, Via::Monitor, action, work).await {
                info!(error = %e, "a monitor client's {verb} was not done");
            }
        }
        .in_current_span(),
    );
}

fn record(app: &App, client: &Client, action: Said, outcome: Result<(), Said>) {
    app.audit
        .record(client.peer.ip(), Via::Monitor, action, outcome);
}
