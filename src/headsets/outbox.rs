//! A bounded queue of frames for one reader that may fall behind: a headset, or an admin page's
//! world view.
//!
//! Producers (GAMA's reader task, the session) never wait on a reader: they append and wake the
//! reader's writer task. The queue is bounded in bytes, and a reader that fell behind (its oldest
//! waiting world update has waited `coalesce_after`) gets the newest world instead of a backlog of
//! stale ones, which Unity would drop anyway; one that keeps up gets every update. What to do when
//! the bound is passed is the owner's call ([`crate::headsets::conn`] disconnects a headset with a reason).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::protocol::Frame;
use crate::protocol::linker::PayloadKind;

/// How a queue is bounded.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most bytes waiting.
    pub max_bytes: usize,
    /// Age of the oldest waiting world update that means the reader is behind.
    pub coalesce_after: Duration,
}

impl QueueLimits {
    /// The limits the headset settings give (the world view uses them too).
    pub fn of(config: &crate::config::HeadsetConfig) -> Self {
        QueueLimits {
            max_bytes: config.max_queue_bytes,
            coalesce_after: Duration::from_millis(config.coalesce_after_ms),
        }
    }
}

/// The frame was not queued: this many bytes already wait, and it would pass the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Bytes waiting.
    pub queued: usize,
}

#[derive(Debug, Default)]
struct Queue {
    /// Frames with their kind and when they were queued.
    frames: VecDeque<(Frame, PayloadKind, Instant)>,
    /// Bytes queued or being written (the writer gives them back with [`Outbox::written`]).
    bytes: usize,
    /// How many world updates wait in `frames` (so the common case never scans).
    worlds: usize,
}

/// The queue.
#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<Queue>,
    wake: Notify,
    flushed: Notify,
    /// Someone waits in [`Outbox::flushed`]: only then does the writer notify (the hot path
    /// never pays for it otherwise).
    flush_awaited: AtomicBool,
    limits: QueueLimits,
}

impl Outbox {
    /// An empty queue.
    pub fn new(limits: QueueLimits) -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            flushed: Notify::new(),
            flush_awaited: AtomicBool::new(false),
            limits,
        }
    }

    /// The bound in bytes.
    pub fn max_bytes(&self) -> usize {
        self.limits.max_bytes
    }

    /// Queues a frame and wakes the writer. `Ok` carries how many waiting world updates the
    /// newest one replaced. A single frame larger than the bound is still queued when nothing
    /// waits (a big initial world must arrive whole).
    pub fn push(&self, frame: Frame, kind: PayloadKind) -> Result<u64, Full> {
        let len = frame.len();
        let now = Instant::now();
        let mut coalesced = 0;
        {
            let mut q = self.queue.lock();
            if kind == PayloadKind::WorldUpdate && q.worlds > 0 {
                let behind = q
                    .frames
                    .iter()
                    .find(|(_, k, _)| *k == PayloadKind::WorldUpdate)
                    .is_some_and(|(_, _, at)| {
                        now.duration_since(*at) >= self.limits.coalesce_after
                    });
                if behind {
                    let before = q.frames.len();
                    let mut freed = 0;
                    q.frames.retain(|(f, k, _)| {
                        let stale = *k == PayloadKind::WorldUpdate;
                        if stale {
                            freed += f.len();
                        }
                        !stale
                    });
                    coalesced = (before - q.frames.len()) as u64;
                    q.bytes -= freed;
                    q.worlds = 0;
                }
            }
            if q.bytes + len > self.limits.max_bytes && !q.frames.is_empty() {
                return Err(Full { queued: q.bytes });
            }
            q.bytes += len;
            q.worlds += usize::from(kind == PayloadKind::WorldUpdate);
            q.frames.push_back((frame, kind, now));
        }
        self.wake.notify_one();
        Ok(coalesced)
    }

    /// Takes every queued frame, for the writer. Their bytes count as waiting until
    /// [`Outbox::written`].
    pub fn drain(&self, into: &mut Vec<Frame>) {
        let mut q = self.queue.lock();
        q.worlds = 0;
        into.extend(q.frames.drain(..).map(|(f, _, _)| f));
    }

    /// The writer wrote `bytes` of what it drained.
    pub fn written(&self, bytes: usize) {
        let empty = {
            let mut q = self.queue.lock();
            q.bytes = q.bytes.saturating_sub(bytes);
            q.bytes == 0
        };
        if empty && self.flush_awaited.load(Ordering::SeqCst) {
            self.flushed.notify_waiters();
        }
    }

    /// Wakes the writer (a close was requested, a setting changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when frames were queued or [`Outbox::wake`] was called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Whether frames wait to be drained.
    pub fn has_queued(&self) -> bool {
        !self.queue.lock().frames.is_empty()
    }

    /// Frames waiting to be drained, and bytes not yet written.
    pub fn backlog(&self) -> (usize, usize) {
        let q = self.queue.lock();
        (q.frames.len(), q.bytes)
    }

    /// Resolves once everything queued so far has been written.
    pub async fn flushed(&self) {
        self.flush_awaited.store(true, Ordering::SeqCst);
        loop {
            let notified = self.flushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.queue.lock().bytes == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(max_bytes: usize, coalesce_after_ms: u64) -> Outbox {
        Outbox::new(QueueLimits {
            max_bytes,
            coalesce_after: Duration::from_millis(coalesce_after_ms),
        })
    }

    #[test]
    fn bounded_in_bytes() {
        let o = outbox(10, 0);
        assert_eq!(o.push(Frame::from("123456"), PayloadKind::OneShot), Ok(0));
        assert_eq!(
            o.push(Frame::from("123456"), PayloadKind::OneShot),
            Err(Full { queued: 6 })
        );
        let mut out = Vec::new();
        o.drain(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(o.backlog(), (0, 6), "drained, not yet written");
        o.written(6);
        assert_eq!(o.backlog(), (0, 0));
    }

    #[test]
    fn a_single_frame_larger_than_the_bound_still_goes_out() {
        let o = outbox(4, 0);
        assert_eq!(
            o.push(Frame::from("0123456789"), PayloadKind::OneShot),
            Ok(0)
        );
    }

    #[test]
    fn a_waiting_world_update_is_replaced_by_the_newer_one() {
        let o = outbox(1000, 0);
        let world = |n: u32| Frame::from(format!("w{n}"));
        o.push(Frame::from("init"), PayloadKind::OneShot).unwrap();
        o.push(world(1), PayloadKind::WorldUpdate).unwrap();
        o.push(Frame::from("props"), PayloadKind::OneShot).unwrap();
        assert_eq!(o.push(world(2), PayloadKind::WorldUpdate), Ok(1));
        assert_eq!(o.push(world(3), PayloadKind::WorldUpdate), Ok(1));
        let mut out = Vec::new();
        o.drain(&mut out);
        let got: Vec<&str> = out.iter().map(|f| f.as_str()).collect();
        assert_eq!(got, ["init", "props", "w3"]);
        assert_eq!(o.backlog().1, "init".len() + "props".len() + 2);
    }

    #[test]
    fn a_reader_that_keeps_up_gets_every_world_update() {
        let o = outbox(1000, 60_000);
        for n in 0..3 {
            o.push(Frame::from(format!("w{n}")), PayloadKind::WorldUpdate)
                .unwrap();
        }
        let mut out = Vec::new();
        o.drain(&mut out);
        assert_eq!(out.len(), 3, "young updates are all kept");
    }

    #[tokio::test]
    async fn flushed_resolves_once_everything_was_written() {
        let o = std::sync::Arc::new(outbox(1000, 0));
        o.flushed().await;
        o.push(Frame::from("abc"), PayloadKind::OneShot).unwrap();
        let waiter = tokio::spawn({
            let o = o.clone();
            async move { o.flushed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let mut out = Vec::new();
        o.drain(&mut out);
        o.written(3);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
