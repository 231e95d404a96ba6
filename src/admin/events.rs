//! `/api/events`: the admin page's live view of the relay over a WebSocket.
//!
//! Each push is the whole state (`{"type":"state","state":…}`, the same document as
//! `GET /api/state`). Pushes are coalesced: a burst of changes (GAMA acknowledging fifty asks a
//! second, ten headsets joining at once) becomes at most one push per `admin.push_min_interval_ms`,
//! and a push also goes out every `admin.push_refresh_ms` so "last seen" and counters stay current.
//! The socket runs under the server's task tracker: shutdown closes it (1001) and waits for it.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tracing::debug;

use super::App;
use super::live::{page_gone, say_goodbye};
use super::view::{StateView, snapshot};

#[derive(Serialize)]
struct Push<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'a StateView,
}

/// Upgrades to the event socket.
pub(super) async fn events(ws: WebSocketUpgrade, State(app): State<App>) -> Response {
    ws.max_message_size(64 * 1024).on_upgrade(move |socket| {
        let tracker = app.tracker.clone();
        tracker.track_future(push_loop(socket, app))
    })
}

async fn push_loop(socket: WebSocket, app: App) {
    let config = &app.config.admin;
    let min_interval = Duration::from_millis(config.push_min_interval_ms);
    let refresh = Duration::from_millis(config.push_refresh_ms);
    let mut changes = app.changes.subscribe();
    let (mut sink, stream) = socket.split();
    let mut closed = std::pin::pin!(page_gone(stream));
    loop {
        changes.borrow_and_update();
        let state = snapshot(&app);
        let text = match serde_json::to_string(&Push {
            kind: "state",
            state: &state,
        }) {
            Ok(t) => t,
            Err(e) => {
                debug!(error = %e, "cannot serialise the state");
                break;
            }
        };
        if sink.send(Message::Text(text.into())).await.is_err() {
            break;
        }
        let sent = tokio::time::Instant::now();
        tokio::select! {
            () = app.shutdown.cancelled() => {
                say_goodbye(&mut sink).await;
                break;
            }
            () = &mut closed => break,
            r = changes.changed() => if r.is_err() { break },
            () = tokio::time::sleep(refresh) => {}
        }
        // Coalesce: whatever else changes before the interval is over goes in the next push.
        tokio::select! {
            () = app.shutdown.cancelled() => {}
            () = &mut closed => break,
            () = tokio::time::sleep_until(sent + min_interval) => {}
        }
    }
}
