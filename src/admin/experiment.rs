//! `/api/experiment/…` and `/api/console`: what the operator does to GAMA's experiment (launch,
//! pause, resume, stop) and GAML evaluated in it, each run to its end with its audit entry.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::{ApiError, ApiResult, App, DONE, to_the_end};
use crate::control::said::{Code, Said};

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

/// `POST /api/experiment/launch`: loads the selected model's experiment (`force`: even below the
/// model's minimum of players).
pub(super) async fn launch(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = body.map_err(|e| ApiError::new(e.status(), Code::BadBody, e.body_text()))?;
    let force = parse_launch_body(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, Code::BadBody, e))?;
    let action = if force {
        Said::new(Code::LaunchAnyway, [], "launch anyway")
    } else {
        Said::new(Code::Launch, [], "launch")
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

/// `POST /api/experiment/pause`.
pub(super) async fn pause(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new(Code::Pause, [], "pause");
    to_the_end(&app, peer, action, async move { operator.pause().await }).await?;
    Ok(DONE)
}

/// `POST /api/experiment/resume`.
pub(super) async fn resume(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new(Code::Resume, [], "resume");
    to_the_end(&app, peer, action, async move { operator.resume().await }).await?;
    Ok(DONE)
}

/// `POST /api/experiment/stop`.
pub(super) async fn stop(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<impl IntoResponse> {
    let operator = app.operator.clone();
    let action = Said::new(Code::Stop, [], "stop");
    to_the_end(&app, peer, action, async move { operator.stop().await }).await?;
    Ok(DONE)
}

/// `{"expr": "<GAML>"}`: evaluated in the live experiment, as GAMA's console would.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleBody {
    expr: String,
}

/// `POST /api/console`: evaluates GAML in the live experiment.
pub(super) async fn console(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = body.map_err(|e| ApiError::new(e.status(), Code::BadBody, e.body_text()))?;
    let ConsoleBody { expr } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::BadBody,
            format!("expected {{\"expr\": \"<GAML>\"}}: {e}"),
        )
    })?;
    if expr.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::EmptyExpression,
            "the expression is empty",
        ));
    }
    let action = Said::new(
        Code::Console,
        [("expr", json!(expr))],
        format!("console: {expr}"),
    );
    let (operator, asked) = (app.operator.clone(), expr.clone());
    let result = to_the_end(&app, peer, action, async move {
        operator.evaluate(&asked).await
    });
    Ok(axum::Json(json!({ "expr": expr, "result": result.await? })))
}
