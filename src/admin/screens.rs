//! Headset screens on the admin API: the headsets and what they stream (`GET /api/screens`, also in
//! `GET /api/state`), the one the projector page enlarges (`POST /api/screens/focus`), and one
//! headset's picture (`GET /api/screens/{serial}/stream`, a WebSocket in the format of
//! [`crate::headsets::screens::fanout`]). Same access rules as the rest of the page.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tracing::debug;

use super::live::{page_gone, say_goodbye};
use super::{ApiError, ApiResult, App, DONE};
use crate::control::audit::Via;
use crate::control::said::{Code, Said};
use crate::headsets::screens::fanout::{Out, status_text};

/// Longest wait for one write to a page: a page that stops reading is let go.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /api/screens`.
pub(super) async fn list(State(app): State<App>) -> impl IntoResponse {
    Json(super::view::screens(&app))
}

/// `POST /api/screens/focus` `{"serial": "…"}` (or `null`): the headset the projector enlarges.
pub(super) async fn focus(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    #[derive(serde::Deserialize)]
    struct Focus {
        serial: Option<String>,
    }
    let Focus { serial } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::BadBody,
            format!("expected {{\"serial\": \"…\"}} or {{\"serial\": null}}: {e}"),
        )
    })?;
    let action = match &serial {
        Some(s) => Said::new(
            Code::ScreenFocus,
            [("serial", json!(s))],
            format!("show {s} on the projector"),
        ),
        None => Said::new(
            Code::ScreenFocus,
            [],
            "no headset enlarged on the projector",
        ),
    };
    app.mirror.set_focus(serial);
    app.audit.record(peer.ip(), Via::Admin, action, Ok(()));
    Ok(DONE)
}

/// `GET /api/screens/{serial}/stream`: one headset's picture.
pub(super) async fn stream(
    ws: WebSocketUpgrade,
    State(app): State<App>,
    Path(serial): Path<String>,
) -> Response {
    ws.max_message_size(4096).on_upgrade(move |socket| {
        let tracker = app.tracker.clone();
        tracker.track_future(watch(socket, app, serial))
    })
}

async fn watch(socket: WebSocket, app: App, serial: String) {
    let (mut sink, stream) = socket.split();
    let viewer = match app.mirror.watch(&serial) {
        Ok(v) => v,
        Err(e) => {
            let text = status_text("ended", e.code(), &e.to_string());
            let _ = sink.send(Message::Text(text.into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    let mut closed = std::pin::pin!(page_gone(stream));
    loop {
        let out = tokio::select! {
            () = app.shutdown.cancelled() => {
                say_goodbye(&mut sink).await;
                break;
            }
            () = &mut closed => break,
            out = viewer.next() => match out {
                Some(out) => out,
                None => break,
            },
        };
        let message = match out {
            Out::Text(t) => Message::Text(t.into()),
            Out::Binary(b) => Message::Binary(b),
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
            Ok(Ok(())) => {}
            _ => {
                debug!(%serial, "a screen's page stopped reading; let go");
                break;
            }
        }
    }
}
