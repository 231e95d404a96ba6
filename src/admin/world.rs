//! `/api/world?player=<id>`: the payloads one player receives, for the admin page's world view.
//!
//! The page gets that player's `json_output` frames as the headset gets them (parameters,
//! properties, initial world, then world updates; a view opened mid-session starts from the
//! relay's cache) and `{"type":"positions","players":{…}}` with every player's own reported
//! position at most ten times a second. The queue is a headset's: bounded, world updates coalesced,
//! so a slow tablet costs the relay nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use crate::headset::Conn;
use crate::relay::Relay;
use crate::world::{POSITIONS_EVERY, Spectator};

/// Spectator ids, apart from headset connection serials.
static SPECTATORS: AtomicU64 = AtomicU64::new(1 << 62);

/// Upgrades to a world-view socket following `?player=`.
pub async fn world(
    ws: WebSocketUpgrade,
    State(relay): State<Relay>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let player = query.get("player").cloned().unwrap_or_default();
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| follow(socket, relay, player))
}

async fn follow(socket: WebSocket, relay: Relay, player: String) {
    let id = SPECTATORS.fetch_add(1, Ordering::Relaxed);
    let conn = Conn::new(
        id,
        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        crate::headset::QueueLimits::of(&relay.config().headsets),
        relay.metrics().clone(),
    );
    relay.world().watch(
        id,
        Spectator {
            player,
            conn: conn.clone(),
        },
    );
    let shutdown = relay.shutdown_token();
    let (mut sink, mut stream) = socket.split();
    let mut closed = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    });
    let mut tick = tokio::time::interval(POSITIONS_EVERY);
    let mut sent_version = u64::MAX;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = conn.closed() => break,
            _ = &mut closed => break,
            () = conn.woken() => {}
            _ = tick.tick() => {
                let (version, positions) = relay.world().positions();
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
        conn.drain(&mut batch);
        let bytes: usize = batch.iter().map(|f| f.len()).sum();
        let count = batch.len();
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
        conn.written(count, bytes);
    }
    relay.world().unwatch(id);
    closed.abort();
}
