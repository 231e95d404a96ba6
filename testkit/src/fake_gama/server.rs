//! What every handle of one fake shares ([`Inner`]): its options, its state under a lock and the
//! change notifications, and how one text frame from a connection becomes a reply.
//!
//! The guards that tidy up when a connection's task or the last handle goes are here too, beside
//! the state they tidy.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::time::Instant;

use super::commands::Ctx;
use super::state::{Out, State};
use super::wire::{CommandReply, UnparsableReply, to_text};
use super::{FakeGamaOptions, ServerMode};

pub(super) struct Inner {
    pub(super) opts: FakeGamaOptions,
    pub(super) addr: SocketAddr,
    pub(super) state: Mutex<State>,
    /// Bumped after every observable change; waiters re-check their condition.
    pub(super) changed: watch::Sender<u64>,
    pub(super) next_conn: AtomicU64,
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the plain data inconsistent enough to
        // matter for a test double: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Runs `f` under the lock, flushes the frames it produced, then notifies waiters.
    pub(super) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = {
            let mut st = self.lock();
            let r = f(&mut st);
            st.flush();
            r
        };
        self.bump();
        r
    }

    /// Handles one text frame from connection `conn`: the reply is queued on that connection
    /// before anything the command caused (statuses, outputs).
    pub(super) fn handle_text(self: &Arc<Self>, conn: u64, text: &str) {
        {
            let mut st = self.lock();
            self.handle_locked(&mut st, conn, text);
            st.flush();
        }
        self.bump();
    }

    fn handle_locked(self: &Arc<Self>, st: &mut State, conn: u64, text: &str) {
        let raw = match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => raw,
            Err(e) => {
                let frame = to_text(&UnparsableReply {
                    ty: "MalformedRequest",
                    content: &e.to_string(),
                });
                self.reply(st, conn, frame);
                return;
            }
        };
        let cmd: Value = match serde_json::from_str(raw.get()) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                let frame = to_text(&UnparsableReply {
                    ty: "MalformedRequest",
                    content: "the request is not a JSON object",
                });
                self.reply(st, conn, frame);
                return;
            }
        };
        st.commands.push(cmd.clone());
        if st
            .failures
            .swallowed
            .iter()
            .any(|n| text.contains(n.as_str()))
        {
            tracing::debug!("fake-gama: swallowing {text}");
            return;
        }
        let ty = match cmd.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "null".to_owned(),
        };
        if ty == "exit" {
            // No reply: the socket is closed (real GAMA exits its JVM).
            st.flush();
            st.send_now(conn, Out::Close(1000, String::new()));
            return;
        }
        // Effects of the command are queued in the outbox; the reply goes first.
        let pending = std::mem::take(&mut st.outbox);
        let resp = Ctx {
            inner: self,
            st: &mut *st,
            conn,
        }
        .dispatch(&ty, &cmd);
        let effects = std::mem::replace(&mut st.outbox, pending);
        let frame = to_text(&CommandReply {
            ty: resp.ty,
            content: &resp.content,
            command: raw,
        });
        self.reply(st, conn, frame);
        st.outbox.extend(effects);
    }

    /// Queues a reply on its connection, honouring the reply-delay injection.
    fn reply(&self, st: &mut State, conn: u64, frame: String) {
        st.flush();
        match st.failures.reply_delay {
            Some(d) if !d.is_zero() => st.send_now(conn, Out::Delayed(Instant::now() + d, frame)),
            _ => st.send_now(conn, Out::Text(frame)),
        }
    }
}

/// Removes a connection from the registry when its task ends, however it ends (including abort).
pub(super) struct ConnGuard {
    pub(super) inner: Arc<Inner>,
    pub(super) conn: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        {
            let mut st = self.inner.lock();
            st.conn_tasks.remove(&self.conn);
            if let Some(c) = st.conns.remove(&self.conn)
                && self.inner.opts.mode == ServerMode::Headless
            {
                // GamaHeadlessWebSocketServer.onClose: the socket's experiments are paused and
                // disposed.
                st.dispose_socket_experiments(&c.socket_id);
            }
        }
        self.inner.bump();
    }
}

/// Aborts every task of the server when the last [`FakeGama`](super::FakeGama) handle is dropped.
pub(super) struct ShutdownGuard {
    pub(super) inner: Arc<Inner>,
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(h) = st.listener.take() {
            h.abort();
        }
        if let Some(h) = st.ticker.take() {
            h.abort();
        }
        for (_, h) in st.conn_tasks.drain() {
            h.abort();
        }
    }
}

/// Binds a listener with `SO_REUSEADDR`, so that [`FakeGama::restart`](super::FakeGama::restart) can take the same port
/// back while old connections sit in TIME_WAIT.
pub(super) fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}
