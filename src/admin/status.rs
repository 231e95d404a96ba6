//! What the relay reports about itself: the health and readiness probes and the Prometheus metrics
//! (open, outside the token), the page's whole state (`GET /api/state`) and the audit trail
//! (`GET /api/audit`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use super::{App, view};
use crate::gama::LinkState;
use crate::server::metrics::SessionGauges;

/// `GET /healthz`: the relay answers.
pub(super) async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready as soon as it answers: headsets are served with or without GAMA. The body says whether
/// GAMA is reachable, for people and probes that care.
pub(super) async fn readyz(State(app): State<App>) -> impl IntoResponse {
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

/// `GET /metrics`: every metric, with the session gauges read now.
pub(super) async fn metrics(State(app): State<App>) -> impl IntoResponse {
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

/// `GET /api/state`: everything the admin page shows, now.
pub(super) async fn state(State(app): State<App>) -> impl IntoResponse {
    axum::Json(view::snapshot(&app))
}

/// `GET /api/audit`: the most recent changes and refusals at the headset port, newest first.
pub(super) async fn audit(State(app): State<App>) -> impl IntoResponse {
    axum::Json(json!({
        "entries": app.audit.recent(200),
        "refusals": app.refusals.recent(),
        "waiting": app.refusals.waiting(),
    }))
}
