//! A spectator: an admin page's world view following one player. It gets that player's payloads
//! through its own bounded, coalescing queue, so a slow tablet never slows the relay, and it is
//! neither counted nor logged as a headset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::headsets::outbox::{Full, Outbox, QueueLimits};
use crate::protocol::Frame;
use crate::protocol::linker::PayloadKind;

/// Spectator ids.
static IDS: AtomicU64 = AtomicU64::new(1);

/// One world view.
#[derive(Debug)]
pub struct Spectator {
    /// Its id among the spectators.
    pub id: u64,
    /// The player followed.
    pub player: String,
    outbox: Outbox,
    closing: CancellationToken,
}

impl Spectator {
    /// A world view of `player` with an empty queue.
    pub fn new(player: String, limits: QueueLimits) -> Arc<Self> {
        Arc::new(Spectator {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            player,
            outbox: Outbox::new(limits),
            closing: CancellationToken::new(),
        })
    }

    /// Queues a payload; a view that lets its queue overflow is closed (the page reopens it).
    pub fn send(&self, frame: Frame, kind: PayloadKind) {
        if self.closing.is_cancelled() {
            return;
        }
        if let Err(Full { queued }) = self.outbox.push(frame, kind) {
            tracing::info!(
                player = %self.player,
                queued_bytes = queued,
                "an admin page's world view is not reading fast enough; closing it"
            );
            self.closing.cancel();
            self.outbox.wake();
        }
    }

    /// Resolves when the view was closed for falling behind.
    pub async fn closed(&self) {
        self.closing.cancelled().await;
    }

    /// Resolves when payloads were queued.
    pub async fn woken(&self) {
        self.outbox.woken().await;
    }

    /// Takes every queued payload.
    pub fn drain(&self, into: &mut Vec<Frame>) {
        self.outbox.drain(into);
    }

    /// The page's socket took `bytes` of what was drained.
    pub fn written(&self, bytes: usize) {
        self.outbox.written(bytes);
    }
}
