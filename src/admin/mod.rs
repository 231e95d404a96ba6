//! The admin side: the HTTP API (the contract of the admin page and of scripts driving a session),
//! the live-update socket and the embedded page.
//!
//! Every API answer is JSON; every error is `{"error": "<plain words>"}` with a fitting status code.

mod assets;
mod auth;
mod events;
mod screens;
mod sessions;
pub(crate) mod view;
mod world;

pub use auth::Access;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{Audit, Via};
use crate::changes::Changes;
use crate::config::Config;
use crate::gama::{GamaError, GamaLink, LinkState};
use crate::metrics::{Metrics, SessionGauges};
use crate::operator::{OpError, Operator};
use crate::players::Players;
use crate::refusals::Refusals;
use crate::said::Said;
use crate::sessions::Sessions;
use crate::world::World;

/// The parts of the relay the admin side reads and drives.
#[derive(Clone)]
pub(crate) struct App {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub gama: GamaLink,
    pub players: Players,
    pub operator: Operator,
    pub world: Arc<World>,
    pub audit: Audit,
    pub refusals: Refusals,
    pub sessions: Sessions,
    pub changes: Changes,
    pub headset_addr: SocketAddr,
    /// This machine's addresses, for the headsets' settings.
    pub addresses: Arc<crate::addresses::Addresses>,
    /// Headset screens.
    pub mirror: crate::mirror::Mirror,
    pub shutdown: CancellationToken,
    /// The event and world sockets run under it, so shutdown waits for them.
    pub tracker: TaskTracker,
}

/// The admin routes: the API (behind `access`), the health check and the page.
pub(crate) fn router(app: App, access: Access) -> Router {
    let limit = app.config.admin.max_body_bytes;
    let api = Router::new()
        .route("/api/events", get(events::events))
        .route("/api/world", get(world::world))
        .route("/api/console", post(console))
        .route("/api/state", get(state))
        .route("/api/models", get(models))
        .route("/api/models/rescan", post(rescan))
        .route("/api/models/{index}/select", post(select))
        .route("/api/models/{index}/splash", get(splash))
        .route("/api/catalogs/{index}/splash", get(catalog_splash))
        .route("/api/experiment/launch", post(launch))
        .route("/api/experiment/pause", post(pause))
        .route("/api/experiment/resume", post(resume))
        .route("/api/experiment/stop", post(stop))
        .route("/api/players/{id}", delete(remove_player))
        .route("/api/audit", get(audit))
        .route("/api/screens", get(screens::list))
        .route("/api/screens/focus", post(screens::focus))
        .route("/api/screens/{serial}/stream", get(screens::stream))
        .route("/api/sessions", get(sessions::list))
        // A long session's timeline is megabytes of JSON: gzip makes it a tenth, for a tablet on
        // the classroom's Wi-Fi.
        .route(
            "/api/sessions/{id}",
            get(sessions::timeline)
                .layer(CompressionLayer::new())
                .delete(sessions::delete),
        )
        .route(
            "/api/sessions/{id}/summary.csv",
            get(sessions::summary_csv).layer(CompressionLayer::new()),
        )
        .route("/api/sessions/{id}/download", get(sessions::download))
        .route("/api/sessions/{id}/play", get(sessions::play))
        .route("/api/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::from_fn_with_state(access, auth::require));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .fallback(assets::serve)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// An API error: status code and message.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    /// Stable name of the error, which the page translates.
    code: &'static str,
    message: String,
    /// Values for the page's sentence.
    params: Option<serde_json::Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            params: None,
        }
    }

    fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = Some(params).filter(|p| p.as_object().is_none_or(|o| !o.is_empty()));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "code": self.code });
        if let Some(params) = self.params {
            body["params"] = params;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let status = match &e {
            OpError::NoSuchModel(_) | OpError::NoSuchPlayer(_) => StatusCode::NOT_FOUND,
            OpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OpError::Gama(g) => match g {
                GamaError::NotConnected | GamaError::Busy(_) | GamaError::Disconnected(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                GamaError::NoExperiment => StatusCode::CONFLICT,
                GamaError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                GamaError::Rejected { .. } => StatusCode::BAD_GATEWAY,
            },
            _ => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), e.to_string()).with_params(e.params())
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct Done {
    ok: bool,
}

const DONE: axum::Json<Done> = axum::Json(Done { ok: true });

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready as soon as it answers: headsets are served with or without GAMA. The body says whether
/// GAMA is reachable, for people and probes that care.
async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let gama = app.gama.status();
    axum::Json(json!({
        "status": "ready",
        "headsets": view::snapshot(&app).headsets,
        "gama": {
            "address": app.gama.address(),
            "connection": gama.link,
            "reachable": gama.link == LinkState::Connected,
            "reason": gama.link_reason.map(|r| r.text),
        },
    }))
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let gama = app.gama.status();
    let (_, counts) = app.players.view();
    let routes = app.players.routes();
    let queue_bytes = routes.conns().iter().map(|c| c.queue_bytes()).sum();
    let link = serde_json::to_value(gama.link)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let text = app.metrics.render(&SessionGauges {
        connected: counts.connected,
        in_game: counts.in_game,
        waiting: counts.waiting,
        disconnected: counts.disconnected,
        connections: routes.len(),
        queue_bytes,
        link: &link,
        experiment: gama.experiment.name(),
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn state(State(app): State<App>) -> impl IntoResponse {
    axum::Json(view::snapshot(&app))
}

#[derive(Serialize)]
struct ModelEntry {
    index: usize,
    name: String,
    experiment_name: String,
    model_file_path: String,
    min_players: Option<u32>,
    max_players: Option<u32>,
    selected_monitoring: Option<String>,
    splashscreen: Option<String>,
    settings_file: String,
    selected: bool,
}

async fn models(State(app): State<App>) -> impl IntoResponse {
    let catalog = app.operator.catalog();
    let selected = app.operator.selected_model().map(|m| m.index);
    let models: Vec<ModelEntry> = catalog
        .models
        .iter()
        .map(|m| ModelEntry {
            index: m.index,
            name: m.name.clone(),
            experiment_name: m.experiment_name.clone(),
            model_file_path: m.model_file_path.display().to_string(),
            min_players: m.min_players,
            max_players: m.max_players,
            selected_monitoring: m.selected_monitoring.clone(),
            splashscreen: m
                .splashscreen
                .as_ref()
                .map(|_| format!("/api/models/{}/splash", m.index)),
            settings_file: m.settings_file.display().to_string(),
            selected: Some(m.index) == selected,
        })
        .collect();
    axum::Json(json!({
        "selected": selected,
        "models": models,
        "catalog": catalog.entries,
        "problems": catalog.problems,
    }))
}

async fn rescan(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> impl IntoResponse {
    app.operator.rescan();
    audited(
        &app,
        peer,
        Said::new("rescan", [], "rescan the learning packages"),
        &Ok::<(), OpError>(()),
    );
    models(State(app)).await
}

fn parse_index(raw: &str) -> ApiResult<usize> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_index",
            format!("{raw:?} is not a model index"),
        )
    })
}

async fn select(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let result = app.operator.select_model(index);
    let action = match &result {
        Ok(model) => Said::new(
            "select",
            [("index", json!(index)), ("model", json!(model.name))],
            format!("select model {index} ({})", model.name),
        ),
        Err(_) => Said::new(
            "select",
            [("index", json!(index))],
            format!("select model {index}"),
        ),
    };
    audited(&app, peer, action, &result);
    let model = result?;
    Ok(
        axum::Json(json!({ "ok": true, "selected": model.index, "name": model.name }))
            .into_response(),
    )
}

async fn splash(State(app): State<App>, Path(index): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let path = app
        .operator
        .catalog()
        .models
        .get(index)
        .and_then(|m| m.splashscreen.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_image",
                "this model has no splash image",
            )
        })?;
    image(&path).await
}

async fn catalog_splash(State(app): State<App>, Path(index): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let path = app
        .operator
        .catalog()
        .catalog_splashes
        .get(index)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_image",
                "no such catalog splash image",
            )
        })?;
    image(&path).await
}

async fn image(path: &std::path::Path) -> ApiResult<Response> {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_image",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

/// `{"force": true}`; an empty body means no force. `"true"` is accepted as well.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchBody {
    #[serde(default, deserialize_with = "lenient_bool")]
    force: bool,
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Text(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "force must be true or false, not {other:?}"
            ))),
        },
    }
}

/// Reads the body of `POST /api/experiment/launch`: whether to launch below the minimum of
/// players. An empty body means no.
pub fn parse_launch_body(body: &[u8]) -> Result<bool, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    serde_json::from_slice::<LaunchBody>(body)
        .map(|b| b.force)
        .map_err(|e| format!("invalid JSON body: {e}"))
}

async fn launch(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = body.map_err(|e| ApiError::new(e.status(), "bad_body", e.body_text()))?;
    let force = parse_launch_body(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_body", e))?;
    let action = if force {
        Said::new("launch_anyway", [], "launch anyway")
    } else {
        Said::new("launch", [], "launch")
    };
    let operator = app.operator.clone();
    to_the_end(
        &app,
        peer,
        action,
        async move { operator.launch(force).await },
    )
    .await?;
    Ok(DONE)
}

async fn pause(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new("pause", [], "pause");
    to_the_end(&app, peer, action, async move { operator.pause().await }).await?;
    Ok(DONE)
}

async fn resume(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new("resume", [], "resume");
    to_the_end(&app, peer, action, async move { operator.resume().await }).await?;
    Ok(DONE)
}

async fn stop(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new("stop", [], "stop");
    to_the_end(&app, peer, action, async move { operator.stop().await }).await?;
    Ok(DONE)
}

async fn remove_player(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let result = app.operator.remove_player(&id);
    let action = Said::new("remove", [("player", json!(id))], format!("remove {id}"));
    audited(&app, peer, action, &result);
    result?;
    Ok(DONE)
}

/// Runs an operator's action and writes it down in the audit trail, both in a task of the server's
/// that the handler only awaits. A client that goes away (a tablet dropping off the Wi-Fi during a
/// launch) makes the server drop its handler; the action and its audit entry still see their end.
pub(crate) async fn to_the_end<T, E>(
    app: &App,
    peer: SocketAddr,
    action: Said,
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<OpError> + Send + 'static,
    for<'e> Said: From<&'e E>,
{
    to_the_end_via(app, peer, Via::Admin, action, work).await
}

/// [`to_the_end`] for a change that came `via` another way (the monitor socket).
pub(crate) async fn to_the_end_via<T, E>(
    app: &App,
    peer: SocketAddr,
    via: Via,
    action: Said,
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<OpError> + Send + 'static,
    for<'e> Said: From<&'e E>,
{
    let app = app.clone();
    let tracker = app.tracker.clone();
    let task = tracker.spawn(async move {
        let result = work.await;
        let outcome = result.as_ref().map(drop).map_err(Said::from);
        app.audit.record(peer.ip(), via, action, outcome);
        result
    });
    task.await
        .unwrap_or_else(|e| Err(OpError::Internal(e.to_string()).into()))
}

/// Records an operator's change made through the admin API.
fn audited<T, E>(app: &App, peer: SocketAddr, action: Said, result: &Result<T, E>)
where
    for<'e> Said: From<&'e E>,
{
    let outcome = result.as_ref().map(drop).map_err(Said::from);
    app.audit.record(peer.ip(), Via::Admin, action, outcome);
}

impl From<&ApiError> for Said {
    fn from(e: &ApiError) -> Said {
        let params = match &e.params {
            Some(serde_json::Value::Object(params)) => params.clone(),
            _ => serde_json::Map::new(),
        };
        Said {
            text: e.message.clone(),
            code: e.code,
            params,
        }
    }
}

/// `GET /api/audit`: the most recent changes and refusals at the headset port, newest first.
async fn audit(State(app): State<App>) -> impl IntoResponse {
    axum::Json(json!({
        "entries": app.audit.recent(200),
        "refusals": app.refusals.recent(),
        "waiting": app.refusals.waiting(),
    }))
}

/// A handler bug answers 500 with a JSON error instead of dropping the connection.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = crate::tasks::panic_message(panic.as_ref()).to_string();
    tracing::error!(panic = %message, "admin request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("internal error: {message}"),
    )
    .into_response()
}

/// `{"expr": "<GAML>"}`: evaluated in the live experiment, as GAMA's console would.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleBody {
    expr: String,
}

async fn console(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = body.map_err(|e| ApiError::new(e.status(), "bad_body", e.body_text()))?;
    let ConsoleBody { expr } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("expected {{\"expr\": \"<GAML>\"}}: {e}"),
        )
    })?;
    if expr.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_expression",
            "the expression is empty",
        ));
    }
    let action = Said::new(
        "console",
        [("expr", json!(expr))],
        format!("console: {expr}"),
    );
    let (operator, asked) = (app.operator.clone(), expr.clone());
    let result = to_the_end(&app, peer, action, async move {
        operator.evaluate(&asked).await
    });
    Ok(axum::Json(json!({ "expr": expr, "result": result.await? })))
}

/// The admin page's live sockets (events, world view): the half the page writes to, which only
/// carries control frames.
type PageStream = futures_util::stream::SplitStream<axum::extract::ws::WebSocket>;
/// The half the relay writes to.
type PageSink =
    futures_util::stream::SplitSink<axum::extract::ws::WebSocket, axum::extract::ws::Message>;

/// Resolves when the page closes its socket or goes away.
async fn page_gone(mut stream: PageStream) {
    use futures_util::StreamExt;
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, axum::extract::ws::Message::Close(_)) {
            break;
        }
    }
}

/// Tells the page the relay is stopping (it reconnects by itself when the relay is back).
async fn say_goodbye(sink: &mut PageSink) {
    use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
    use futures_util::SinkExt;
    let close = CloseFrame {
        code: 1001,
        reason: Utf8Bytes::from_static("relay shutting down"),
    };
    let _ = sink.send(Message::Close(Some(close))).await;
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_endpoint", "no such API endpoint")
}
