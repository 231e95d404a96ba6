//! `/api/world?player=<id>`: the payloads one player receives, for the admin page's world view.
//!
//! The page gets that player's `json_output` frames as the headset gets them (parameters,
//! properties, initial world, then world updates; a view opened mid-session starts from the
//! relay's cache) and `{"type":"positions","players":{…}}` with every player's own reported
//! position at most ten times a second. The view has its own bounded, coalescing queue
//! ([`Spectator`]), so a slow tablet costs the relay nothing and is never counted as a headset.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use super::App;
use super::live::{page_gone, say_goodbye};
use crate::gama::world::{POSITIONS_EVERY, Spectator};
use crate::headsets::outbox::QueueLimits;

/// Upgrades to a world-view socket following `?player=`.
pub(super) async fn world(
    ws: WebSocketUpgrade,
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let player = query.get("player").cloned().unwrap_or_default();
    ws.max_message_size(64 * 1024).on_upgrade(move |socket| {
        let tracker = app.tracker.clone();
        tracker.track_future(follow(socket, app, player))
    })
}

async fn follow(socket: WebSocket, app: App, player: String) {
    let spectator = Spectator::new(player, QueueLimits::of(&app.config.headsets));
    app.world.watch(spectator.clone());
    let (mut sink, stream) = socket.split();
    let mut closed = std::pin::pin!(page_gone(stream));
    let mut tick = tokio::time::interval(POSITIONS_EVERY);
    let mut sent_version = u64::MAX;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => {
                say_goodbye(&mut sink).await;
                break;
            }
            () = spectator.closed() => break,
            () = &mut closed => break,
            () = spectator.woken() => {}
            _ = tick.tick() => {
                let (version, positions) = app.world.positions();
                if version != sent_version {
                    sent_version = version;
                    let text = json!({"type": "positions", "players": positions}).to_string();
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                continue;
            }
        }
        batch.clear();
        spectator.drain(&mut batch);
        let bytes: usize = batch.iter().map(|f| f.len()).sum();
        let mut failed = false;
        for frame in batch.drain(..) {
            if sink
                .feed(Message::Text(frame.as_str().into()))
                .await
                .is_err()
            {
                failed = true;
                break;
            }
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
        spectator.written(bytes);
    }
    app.world.unwatch(&spectator);
}
