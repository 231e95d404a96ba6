//! `/api/sessions…`: the kept sessions for the admin page's Sessions panel — the list, one
//! session's timeline, its per-player summary as CSV, its files to download, deleting it, and
//! playing it back in the world view.
//!
//! Playback (`/api/sessions/{id}/play?player=<id>`, a WebSocket) happens here, from the files:
//! never through GAMA or the headsets, so it runs beside a live session, or without GAMA at all.
//! The page sends `{"type":"seek","t":ms}`, `{"type":"play","speed":4}`, `{"type":"pause"}` and
//! `{"type":"follow","player":id}`; it gets `{"type":"reset"}`, that player's `json_output` frames as
//! the headset got them, `{"type":"positions",…}` (every player's position and trail over the last
//! [`crate::history::kept::view::TRAIL_MS`]) and `{"type":"clock","t":…,"playing":…,"speed":…,"duration":…}`. A seek reads one
//! frame of the file, starting from its snapshot. What to send and when is decided by
//! [`crate::history::kept::playback::Playback`], without the socket; this file only performs it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::{ApiError, App, to_the_end};
use crate::control::said::{Code, Said};
use crate::history::kept::playback::{Control, Due, Playback};
use crate::history::kept::read::{self, ReadError, Session};
use crate::history::kept::view::{lines_after, view_at};

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, Code::UnknownSession, e.to_string())
            }
            ReadError::Broken { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::BrokenSession,
                e.to_string(),
            ),
        }
    }
}

/// Reads files off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            e.to_string(),
        ))
    })
}

/// `GET /api/sessions`: every kept session, newest first, the one in progress, and whether
/// sessions are kept at all (`sessions.enabled`).
pub(super) async fn list(State(app): State<App>) -> Result<impl IntoResponse, ApiError> {
    let folder = app.sessions.folder().to_path_buf();
    let sessions = blocking(move || Ok(read::list(&folder))).await?;
    let listed: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "model": s.model, "experiment": s.experiment,
                "started": s.started, "ended": s.ended, "duration_ms": s.duration_ms,
                "players": s.players, "bytes": s.bytes, "in_progress": s.in_progress,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "enabled": app.config.sessions.enabled,
        "folder": app.sessions.folder().display().to_string(),
        "current": app.sessions.current(),
        "sessions": listed,
    })))
}

/// `GET /api/sessions/{id}`: the timeline.
pub(super) async fn timeline(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let folder = app.sessions.folder().to_path_buf();
    let timeline = blocking(move || Ok(read::open(&folder, &id)?.timeline()?)).await?;
    Ok(axum::Json(timeline))
}

/// `GET /api/sessions/{id}/summary.csv`.
pub(super) async fn summary_csv(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let folder = app.sessions.folder().to_path_buf();
    let name = format!("attachment; filename=\"{id}-players.csv\"");
    let csv =
        blocking(move || Ok(read::summary_csv(&read::open(&folder, &id)?.timeline()?))).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        csv,
    ))
}

/// `GET /api/sessions/{id}/download`: the session's files in one tar archive.
pub(super) async fn download(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let folder = app.sessions.folder().to_path_buf();
    let name = format!("attachment; filename=\"{id}.tar\"");
    let archive = blocking(move || {
        let session = read::open(&folder, &id)?;
        let broken = |e: std::io::Error| {
            ApiError::from(ReadError::Broken {
                id: id.clone(),
                why: e.to_string(),
            })
        };
        let mut tar = tar::Builder::new(Vec::new());
        for suffix in ["json", "zst", "timeline.jsonl"] {
            let file = format!("{}.{suffix}", session.info.id);
            tar.append_path_with_name(folder.join(&file), &file)
                .map_err(broken)?;
        }
        tar.into_inner().map_err(broken)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from(archive),
    )
        .into_response())
}

/// `DELETE /api/sessions/{id}` (never the one in progress).
pub(super) async fn delete(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if app.sessions.current().as_deref() == Some(id.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::SessionInProgress,
            "this session is still being kept; stop the experiment first",
        ));
    }
    let folder = app.sessions.folder().to_path_buf();
    let target = id.clone();
    let action = Said::new(
        Code::DeleteSession,
        [("session", json!(id))],
        format!("delete session {id}"),
    );
    let work = blocking(move || Ok(read::delete(&folder, &target)?));
    to_the_end(&app, peer, action, work).await?;
    Ok(axum::Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
pub(super) struct Follow {
    #[serde(default)]
    player: Option<String>,
}

/// `GET /api/sessions/{id}/play?player=<id>`: the playback socket.
pub(super) async fn play(
    ws: WebSocketUpgrade,
    State(app): State<App>,
    Path(id): Path<String>,
    Query(follow): Query<Follow>,
) -> Result<Response, ApiError> {
    let folder = app.sessions.folder().to_path_buf();
    let session = blocking(move || Ok(read::open(&folder, &id)?)).await?;
    let player = follow
        .player
        .or_else(|| session.info.players.first().cloned())
        .unwrap_or_default();
    Ok(ws.max_message_size(64 * 1024).on_upgrade(move |socket| {
        let tracker = app.tracker.clone();
        tracker.track_future(playback(socket, app, session, player))
    }))
}

/// Performs a [`Playback`] on the page's socket: reads what it asks to read (off the runtime's
/// threads), sends what it says, sleeps until what it says is due. The playback ends when the page
/// goes away, cannot take what is sent, or the relay stops.
async fn playback(socket: WebSocket, app: App, session: Session, player: String) {
    let mut playback = Playback::new(session.info.duration_ms, player, Instant::now());
    let session = std::sync::Arc::new(session);
    let (mut sink, stream) = socket.split();
    let (control_tx, mut controls) = tokio::sync::mpsc::channel::<Control>(16);
    let mut gone = std::pin::pin!(read_controls(stream, control_tx));
    let mut clock = tokio::time::interval(Duration::from_millis(200));
    loop {
        if let Some((player, t)) = playback.wanted_view() {
            let s = session.clone();
            let Ok(Ok(view)) = tokio::task::spawn_blocking(move || view_at(&s, &player, t)).await
            else {
                break;
            };
            if send_all(&mut sink, playback.seeked(view, Instant::now()))
                .await
                .is_err()
            {
                break;
            }
        }
        let next_due = playback.next_due();
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            () = &mut gone => break,
            control = controls.recv() => {
                let Some(control) = control else { break };
                if let Some(clock) = playback.control(control, Instant::now()) {
                    let _ = sink.send(Message::Text(clock.into())).await;
                }
            }
            () = sleep_until(next_due), if next_due.is_some() => match playback.due() {
                Due::Nothing => {}
                Due::Frame(frame) => {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Due::ReadOn(from) => {
                    let s = session.clone();
                    let Ok(Ok(lines)) = tokio::task::spawn_blocking(move || lines_after(&s, from)).await
                    else {
                        break;
                    };
                    playback.read(from, lines);
                }
                Due::End(clock) => {
                    let _ = sink.send(Message::Text(clock.into())).await;
                }
            },
            _ = clock.tick() => {
                let mut failed = false;
                for text in playback.tick(Instant::now()) {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break;
                }
            }
        }
    }
}

/// Passes the page's controls on until it closes its socket or goes away.
async fn read_controls(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    controls: tokio::sync::mpsc::Sender<Control>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(text) => {
                if let Ok(c) = serde_json::from_str::<Control>(&text) {
                    if controls.send(c).await.is_err() {
                        break;
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
}

/// Sends `texts` in one flush.
async fn send_all(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    texts: Vec<String>,
) -> Result<(), axum::Error> {
    for text in texts {
        sink.feed(Message::Text(text.into())).await?;
    }
    sink.flush().await
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
