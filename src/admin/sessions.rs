//! `/api/sessions…`: the kept sessions for the admin page's Sessions panel — the list, one
//! session's timeline, its per-player summary as CSV, its files to download, deleting it, and
//! playing it back in the world view.
//!
//! Playback (`/api/sessions/{id}/play?player=<id>`, a WebSocket) happens here, from the files:
//! never through GAMA or the headsets, so it runs beside a live session, or without GAMA at all.
//! The page sends `{"type":"seek","t":ms}`, `{"type":"play","speed":4}`, `{"type":"pause"}` and
//! `{"type":"follow","player":id}`; it gets `{"type":"reset"}`, that player's `json_output` frames as
//! the headset got them, `{"type":"positions",…}` (every player's position and trail over the last
//! [`crate::sessions::view::TRAIL_MS`]) and `{"type":"clock","t":…,"playing":…,"speed":…,"duration":…}`. A seek reads one
//! frame of the file, starting from its snapshot.

use std::collections::VecDeque;
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

use super::{ApiError, App, to_the_end};
use crate::said::Said;
use crate::sessions::read::{self, DataLine, ReadError, Session};
use crate::sessions::view::{READ_AHEAD_MS, View, lines_after, view_at};

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_session", e.to_string())
            }
            ReadError::Broken { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "broken_session",
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
            "internal",
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
            "session_in_progress",
            "this session is still being kept; stop the experiment first",
        ));
    }
    let folder = app.sessions.folder().to_path_buf();
    let target = id.clone();
    let action = Said::new(
        "delete_session",
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

/// What the page asks of the playback.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Seek { t: u64 },
    Play { speed: f64 },
    Pause,
    Follow { player: String },
}

async fn playback(socket: WebSocket, app: App, session: Session, mut player: String) {
    use tokio::time::Instant;
    let duration = session.info.duration_ms;
    let session = std::sync::Arc::new(session);
    let (mut sink, mut stream) = socket.split();
    let (control_tx, mut controls) = tokio::sync::mpsc::channel::<Control>(16);
    let reader = async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(text) => {
                    if let Ok(c) = serde_json::from_str::<Control>(&text) {
                        if control_tx.send(c).await.is_err() {
                            break;
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let mut gone = std::pin::pin!(reader);
    // Where the playback stands while paused; while playing, the session time runs from `origin`
    // (an instant and the session time then) at `speed`, quiet stretches included, so the clock
    // the page shows moves steadily and the end comes when the recording ends.
    let mut t = 0u64;
    let mut speed = 1.0f64;
    let mut playing = false;
    let mut origin = (Instant::now(), 0u64);
    // Lines read ahead and not sent yet; the session is read up to `read_until`.
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut read_until = 0u64;
    let mut view = View::default();
    let mut seek_to = Some(0u64);
    let mut clock = tokio::time::interval(Duration::from_millis(200));
    let mut positions_dirty = false;
    // The session time now, and the instant session time `at` comes.
    let now_t = |origin: (Instant, u64), speed: f64| -> u64 {
        let ran = origin.0.elapsed().as_secs_f64() * 1000.0 * speed;
        (origin.1 + ran as u64).min(duration)
    };
    let due = |origin: (Instant, u64), speed: f64, at: u64| -> Instant {
        let wait = at.saturating_sub(origin.1) as f64 / speed;
        origin.0 + Duration::from_secs_f64(wait / 1000.0)
    };
    loop {
        if let Some(target) = seek_to.take() {
            t = target.min(duration);
            let (s, p) = (session.clone(), player.clone());
            let Ok(Ok(v)) = tokio::task::spawn_blocking(move || view_at(&s, &p, t)).await else {
                break;
            };
            view = v;
            pending.clear();
            read_until = t;
            origin = (Instant::now(), t);
            let mut out = vec!["{\"type\":\"reset\"}".to_string()];
            out.extend(view.ordered_frames().iter().map(|f| f.as_str().to_string()));
            out.push(view.positions_message(t));
            out.push(clock_message(t, playing, speed, duration));
            let mut failed = false;
            for text in out {
                if sink.feed(Message::Text(text.into())).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || sink.flush().await.is_err() {
                break;
            }
        }
        // When playing, what is due next: the next line read ahead, else reading on (at most
        // READ_AHEAD_MS ahead of the clock), else the end of the recording.
        let next_due = playing.then(|| match pending.front() {
            Some(line) => {
                let at = serde_json::from_str::<DataLine<'_>>(line).map_or(0, |d| d.t);
                due(origin, speed, at)
            }
            None if read_until < duration => {
                due(origin, speed, read_until.saturating_sub(READ_AHEAD_MS))
            }
            None => due(origin, speed, duration),
        });
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            () = &mut gone => break,
            control = controls.recv() => match control {
                None => break,
                Some(Control::Seek { t: target }) => seek_to = Some(target),
                Some(Control::Play { speed: s }) => {
                    if playing {
                        t = now_t(origin, speed);
                    }
                    speed = if s.is_finite() && s > 0.0 { s.min(64.0) } else { 1.0 };
                    playing = true;
                    origin = (Instant::now(), t);
                    let _ = sink.send(Message::Text(clock_message(t, playing, speed, duration).into())).await;
                }
                Some(Control::Pause) => {
                    if playing {
                        t = now_t(origin, speed);
                    }
                    playing = false;
                    let _ = sink.send(Message::Text(clock_message(t, playing, speed, duration).into())).await;
                }
                Some(Control::Follow { player: p }) => {
                    if playing {
                        t = now_t(origin, speed);
                        origin = (Instant::now(), t);
                    }
                    player = p;
                    seek_to = Some(t);
                }
            },
            () = sleep_until(next_due), if next_due.is_some() => {
                if let Some(line) = pending.pop_front() {
                    let Ok(data) = serde_json::from_str::<DataLine<'_>>(&line) else { continue };
                    if data.snap {
                        continue;
                    }
                    positions_dirty |= data.pos.is_some() || data.player.is_some();
                    if let Some(frame) = view.take(&data, &player) {
                        if sink.send(Message::Text(frame.as_str().into())).await.is_err() {
                            break;
                        }
                    }
                } else if read_until < duration {
                    let (s, from) = (session.clone(), read_until);
                    let Ok(Ok(lines)) = tokio::task::spawn_blocking(move || lines_after(&s, from)).await
                    else {
                        break;
                    };
                    read_until = from + READ_AHEAD_MS;
                    // What was written after the end (the players' last states, during the
                    // session's linger time) is not played: the recording ends at its end.
                    pending = lines
                        .into_iter()
                        .filter(|l| {
                            serde_json::from_str::<DataLine<'_>>(l).is_ok_and(|d| d.t <= duration)
                        })
                        .collect();
                } else {
                    // The end of the recording.
                    playing = false;
                    t = duration;
                    let _ = sink
                        .send(Message::Text(clock_message(t, playing, speed, duration).into()))
                        .await;
                }
            }
            _ = clock.tick() => {
                let now = if playing { now_t(origin, speed) } else { t };
                // Trails fade as time passes, even for players standing still.
                let faded = playing && view.fade(now);
                if positions_dirty || faded {
                    positions_dirty = false;
                    if sink.send(Message::Text(view.positions_message(now).into())).await.is_err() {
                        break;
                    }
                }
                if playing && sink.send(Message::Text(clock_message(now, playing, speed, duration).into())).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn clock_message(t: u64, playing: bool, speed: f64, duration: u64) -> String {
    json!({"type": "clock", "t": t, "playing": playing, "speed": speed, "duration": duration})
        .to_string()
}
