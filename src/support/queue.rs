//! A bounded queue from the hot path to a writer thread (the recording, a kept session).
//!
//! std's `sync_channel(n)` sets up its `n` slots at creation: at the default bound of 65 536
//! messages that is about 6 MB of memory, held by a relay that mostly waits. This queue takes
//! memory only for the messages it holds; its bound is a count, checked on every send, so that a
//! disk that cannot keep up costs dropped messages (the caller counts them), never the relay's
//! memory or a wait on the hot path.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) use std::sync::mpsc::{RecvTimeoutError, TryRecvError, TrySendError};

/// A queue that holds at most `max` messages (at least one).
pub(crate) fn bounded<T>(max: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            tx,
            queued: queued.clone(),
            max: max.max(1),
        },
        Receiver { rx, queued },
    )
}

/// The sending side; never waits.
pub(crate) struct Sender<T> {
    tx: mpsc::Sender<T>,
    queued: Arc<AtomicUsize>,
    max: usize,
}

impl<T> Sender<T> {
    /// Queues `value`, or hands it back: `Full` when `max` messages wait, `Disconnected` when the
    /// receiver is gone.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(TrySendError::Full(value));
        }
        self.tx.send(value).map_err(|mpsc::SendError(value)| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(value)
        })
    }
}

/// The writer thread's side.
pub(crate) struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    queued: Arc<AtomicUsize>,
}

impl<T> Receiver<T> {
    /// The next message, waiting at most `timeout`.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let value = self.rx.recv_timeout(timeout)?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Ok(value)
    }

    /// The next message, if one waits.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let value = self.rx.try_recv()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_bound_and_frees_room_as_it_is_read() {
        let (tx, rx) = bounded(2);
        assert!(tx.try_send(1).is_ok());
        assert!(tx.try_send(2).is_ok());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(tx.try_send(4).is_ok());
        assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Ok(2));
        assert_eq!(rx.try_recv(), Ok(4));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(rx);
        assert!(matches!(tx.try_send(5), Err(TrySendError::Disconnected(5))));
        // A refused message leaves no trace in the count.
        let (tx, rx) = bounded(1);
        drop(rx);
        let _ = tx.try_send(1);
        assert_eq!(tx.queued.load(Ordering::Acquire), 0);
    }

    #[test]
    fn many_senders_never_exceed_the_bound() {
        let (tx, rx) = bounded(100);
        let tx = Arc::new(tx);
        let sent: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let tx = tx.clone();
                    s.spawn(move || (0..1000).filter(|i| tx.try_send(*i).is_ok()).count())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(sent, 100);
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 100);
    }
}
