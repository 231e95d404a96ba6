//! Commands awaiting gama-server's reply, matched by the correlation id GAMA echoes back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::GamaError;
use crate::protocol::Frame;
use crate::protocol::command::CommandKind;

/// Who is waiting for a reply.
#[derive(Debug)]
pub enum Waiter {
    /// A task awaiting the result.
    Reply(oneshot::Sender<Result<String, GamaError>>),
    /// Nobody awaits it (a headset's ask): a failure is logged and reported to that player.
    Detached {
        /// The player whose message it was.
        player: Arc<str>,
    },
    /// A tool connected through the relay's gama-server endpoint: it gets GAMA's reply as is.
    Client {
        /// The tool's connection.
        tool: u64,
        /// Where the reply goes.
        reply: ClientReply,
        /// The tool's command, echoed in an error the relay answers itself (timeout, lost link).
        command: Frame,
    },
}

/// Hands a frame to a passthrough client.
#[derive(Clone)]
pub struct ClientReply(pub Arc<dyn Fn(Frame) + Send + Sync>);

impl std::fmt::Debug for ClientReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientReply")
    }
}

impl ClientReply {
    /// Sends GAMA's error-shaped answer for a command the relay could not get answered.
    pub fn error(&self, command: &Frame, kind: &str, message: &str) {
        let mut out = Vec::with_capacity(command.len() + message.len() + 64);
        out.extend_from_slice(b"{\"type\":");
        crate::protocol::json::write_str(&mut out, kind);
        out.extend_from_slice(b",\"content\":");
        crate::protocol::json::write_str(&mut out, message);
        out.extend_from_slice(b",\"command\":");
        out.extend_from_slice(command.as_bytes());
        out.push(b'}');
        (self.0)(crate::protocol::frame_from_vec(out));
    }
}

/// The deadline of a command that waits as long as GAMA takes (a tool's, by default): far enough
/// never to come, near enough for `Instant` arithmetic.
pub const FOREVER: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// A command in flight.
#[derive(Debug)]
pub struct Entry {
    /// What was asked.
    pub kind: CommandKind,
    /// For `load`: the experiment name asked for, to tell GAMA's server modes apart by the reply.
    pub experiment: Option<String>,
    /// When it was sent.
    pub sent: Instant,
    /// When to give up.
    pub deadline: Instant,
    /// The deadline as a duration, for messages.
    pub timeout: std::time::Duration,
    /// Whether a failure is GAMA's "last error" (not for probes, whose failures are answers).
    pub record_failure: bool,
    /// Who gets the answer.
    pub waiter: Waiter,
}

/// The table of commands in flight on one connection. Dropping it (connection lost) drops every
/// waiter's sender, which its receiver sees as a lost connection.
#[derive(Debug)]
pub struct Pending {
    entries: Mutex<HashMap<u64, Entry>>,
    max: usize,
}

impl Pending {
    /// An empty table admitting at most `max` entries.
    pub fn new(max: usize) -> Self {
        Pending {
            entries: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// Registers a command; fails when `max` are already waiting.
    pub fn insert(&self, seq: u64, entry: Entry) -> Result<(), GamaError> {
        let mut entries = self.entries.lock();
        if entries.len() >= self.max {
            return Err(GamaError::Busy(self.max));
        }
        entries.insert(seq, entry);
        Ok(())
    }

    /// Takes the entry a reply answers.
    pub fn take(&self, seq: u64) -> Option<Entry> {
        self.entries.lock().remove(&seq)
    }

    /// For replies that lost their correlation id: the oldest command of that kind (gama-server
    /// answers the commands of one socket in order).
    pub fn take_oldest(&self, kind: CommandKind) -> Option<Entry> {
        let mut entries = self.entries.lock();
        let seq = entries
            .iter()
            .filter(|(_, e)| e.kind == kind)
            .map(|(seq, _)| *seq)
            .min()?;
        entries.remove(&seq)
    }

    /// Removes every entry past its deadline.
    pub fn expire(&self, now: Instant) -> Vec<Entry> {
        let mut entries = self.entries.lock();
        let expired: Vec<u64> = entries
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        expired
            .into_iter()
            .filter_map(|seq| entries.remove(&seq))
            .collect()
    }

    /// Forgets the commands of a tool that left: GAMA's late answers go nowhere.
    pub fn forget_tool(&self, tool: u64) {
        self.entries
            .lock()
            .retain(|_, e| !matches!(&e.waiter, Waiter::Client { tool: t, .. } if *t == tool));
    }

    /// Takes every entry (the connection is gone).
    pub fn drain(&self) -> Vec<Entry> {
        self.entries.lock().drain().map(|(_, e)| e).collect()
    }

    /// How many commands are in flight.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(kind: CommandKind, deadline: Instant) -> Entry {
        Entry {
            kind,
            experiment: None,
            sent: deadline,
            deadline,
            timeout: Duration::ZERO,
            record_failure: true,
            waiter: Waiter::Detached {
                player: Arc::from("p"),
            },
        }
    }

    #[test]
    fn bounded_matched_and_expired() {
        let now = Instant::now();
        let p = Pending::new(3);
        p.insert(1, entry(CommandKind::Ask, now)).unwrap();
        p.insert(2, entry(CommandKind::Ask, now + Duration::from_secs(60)))
            .unwrap();
        p.insert(3, entry(CommandKind::Play, now + Duration::from_secs(60)))
            .unwrap();
        assert!(matches!(
            p.insert(4, entry(CommandKind::Ask, now)),
            Err(GamaError::Busy(3))
        ));
        assert_eq!(p.expire(now).len(), 1);
        assert_eq!(
            p.take_oldest(CommandKind::Ask).map(|e| e.kind),
            Some(CommandKind::Ask)
        );
        assert!(p.take(2).is_none());
        assert!(p.take(3).is_some());
        assert_eq!(p.len(), 0);
    }
}
