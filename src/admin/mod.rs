//! The admin side: the HTTP API (the contract of the admin page and of scripts driving a session),
//! the live-update socket and the embedded page.
//!
//! Every API answer is JSON; every error is `{"error": "<plain words>"}` with a fitting status code
//! ([`ApiError`]). This file is the router; the handlers are grouped by what they act on:
//! `status` (health, metrics, the page's state, the audit trail), `models` (the learning packages'
//! models), `experiment` (GAMA's experiment and its console), `players`, `kept` (kept
//! sessions and their playback), `screens` (headset screens), `events` and `world` (the page's
//! live sockets, sharing `live`), `assets` (the page itself). `auth` guards them; `action` runs an
//! operator's change to its end with its audit entry.

mod action;
mod assets;
mod auth;
mod error;
mod events;
mod experiment;
mod kept;
mod live;
mod models;
mod players;
mod screens;
mod status;
pub(crate) mod view;
mod world;

pub use auth::Access;
pub use error::ApiError;
pub use experiment::parse_launch_body;

pub(crate) use action::{audited, to_the_end, to_the_end_via};
pub(crate) use error::ApiResult;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::audit::Audit;
use crate::control::operator::Operator;
use crate::control::said::Code;
use crate::gama::GamaLink;
use crate::gama::world::World;
use crate::headsets::players::Players;
use crate::headsets::refusals::Refusals;
use crate::history::kept::Sessions;
use crate::server::metrics::Metrics;
use crate::support::changes::Changes;

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
    pub addresses: Arc<crate::headsets::addresses::Addresses>,
    /// Headset screens.
    pub mirror: crate::headsets::screens::Mirror,
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
        .route("/api/console", post(experiment::console))
        .route("/api/state", get(status::state))
        .route("/api/models", get(models::models))
        .route("/api/models/rescan", post(models::rescan))
        .route("/api/models/{index}/select", post(models::select))
        .route("/api/models/{index}/splash", get(models::splash))
        .route("/api/catalogs/{index}/splash", get(models::catalog_splash))
        .route("/api/experiment/launch", post(experiment::launch))
        .route("/api/experiment/pause", post(experiment::pause))
        .route("/api/experiment/resume", post(experiment::resume))
        .route("/api/experiment/stop", post(experiment::stop))
        .route("/api/players/{id}", delete(players::remove_player))
        .route("/api/audit", get(status::audit))
        .route("/api/screens", get(screens::list))
        .route("/api/screens/focus", post(screens::focus))
        .route("/api/screens/{serial}/stream", get(screens::stream))
        .route("/api/sessions", get(kept::list))
        // A long session's timeline is megabytes of JSON: gzip makes it a tenth, for a tablet on
        // the classroom's Wi-Fi.
        .route(
            "/api/sessions/{id}",
            get(kept::timeline)
                .layer(CompressionLayer::new())
                .delete(kept::delete),
        )
        .route(
            "/api/sessions/{id}/summary.csv",
            get(kept::summary_csv).layer(CompressionLayer::new()),
        )
        .route("/api/sessions/{id}/download", get(kept::download))
        .route("/api/sessions/{id}/play", get(kept::play))
        .route("/api/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::from_fn_with_state(access, auth::require));
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/metrics", get(status::metrics))
        .merge(api)
        .fallback(assets::serve)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

#[derive(Serialize)]
struct Done {
    ok: bool,
}

const DONE: axum::Json<Done> = axum::Json(Done { ok: true });

/// A handler bug answers 500 with a JSON error instead of dropping the connection.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = crate::server::tasks::panic_message(panic.as_ref()).to_string();
    tracing::error!(panic = %message, "admin request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        Code::Internal,
        format!("internal error: {message}"),
    )
    .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NoEndpoint,
        "no such API endpoint",
    )
}
