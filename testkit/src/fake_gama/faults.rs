//! Scripted faults: GAMA crashing, quitting, restarting on the same port, a network glitch, and
//! commands that hang, fail or answer late.
//!
//! They let the relay's tests exercise their deadlines and reconnection with real sockets; kept
//! apart from the normal behaviour so that what is injected is easy to find.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connection::accept_loop;
use super::server::bind_listener;
use super::state::{Failures, Out};
use super::{CLOSE_TIMEOUT, FakeGama, REBIND_TIMEOUT, ServerMode};

impl FakeGama {
    /// Simulates GAMA crashing: stop listening and drop every TCP connection at once, no close
    /// frame. Experiment state is lost.
    pub async fn kill(&self) {
        self.stop_listening().await;
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            st.conns.clear();
            st.reset_sim();
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        for h in &tasks {
            h.abort();
        }
        for h in tasks {
            let _ = h.await;
        }
        self.inner.bump();
    }

    /// Simulates GAMA being quit normally: close frame 1000 to every client, stop listening.
    /// State lost.
    pub async fn shutdown_clean(&self) {
        self.stop_listening().await;
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            for c in st.conns.values() {
                let _ = c.tx.send(Out::Close(1000, String::new()));
            }
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        let deadline = Instant::now() + CLOSE_TIMEOUT * 2;
        for mut h in tasks {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                let _ = h.await;
            }
        }
        {
            let mut st = self.inner.lock();
            st.conns.clear();
            st.reset_sim();
        }
        self.inner.bump();
    }

    /// Stops the accept loop and waits until the listening socket is closed.
    async fn stop_listening(&self) {
        let listener = self.inner.lock().listener.take();
        if let Some(h) = listener {
            h.abort();
            let _ = h.await;
        }
    }

    /// Simulates GAMA starting again on the SAME port with a fresh state (no experiment). A
    /// running server is killed first. Retries the bind briefly while the port is busy.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let running = self.inner.lock().listener.is_some();
        if running {
            self.kill().await;
        }
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match bind_listener(self.inner.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(
                        "fake-gama: rebinding {} failed ({e}), retrying",
                        self.inner.addr
                    );
                    // The port is held by the kernel (no event to await): poll briefly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("fake-gama: cannot listen again on {}", self.inner.addr)
                    });
                }
            }
        };
        {
            let mut st = self.inner.lock();
            st.reset_sim();
            st.listener = Some(tokio::spawn(accept_loop(Arc::clone(&self.inner), listener)));
        }
        self.inner.bump();
        tracing::info!("fake-gama restarted on ws://{}", self.inner.addr);
        Ok(())
    }

    /// Drops the current connections abruptly (no close frame) but keeps listening and keeps the
    /// experiment: a network glitch. Desktop: the experiment survives; headless: that socket's
    /// experiments are disposed, as real GAMA does on close.
    pub async fn drop_connections(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            let conns = std::mem::take(&mut st.conns);
            if self.inner.opts.mode == ServerMode::Headless {
                for c in conns.values() {
                    st.dispose_socket_experiments(&c.socket_id);
                }
            }
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        for h in &tasks {
            h.abort();
        }
        for h in tasks {
            let _ = h.await;
        }
        self.inner.bump();
    }

    /// `expression` commands whose `expr` contains `needle` get `UnableToExecuteRequest` with
    /// `message` as content.
    pub fn fail_expressions_containing(&self, needle: &str, message: &str) {
        self.inner
            .lock()
            .failures
            .failing_expressions
            .push((needle.to_owned(), message.to_owned()));
    }

    /// Commands whose raw text contains `needle` are recorded but neither executed nor answered
    /// (a hung GAMA, for deadline tests).
    pub fn swallow_commands_containing(&self, needle: &str) {
        self.inner.lock().failures.swallowed.push(needle.to_owned());
    }

    /// Every command reply is delayed by `d` (statuses and outputs are not).
    pub fn delay_replies(&self, d: Duration) {
        self.inner.lock().failures.reply_delay = Some(d);
    }

    /// Subsequent `load` commands fail with `UnableToExecuteRequest(message)`; `None` restores
    /// normal loads.
    pub fn set_load_error(&self, message: Option<&str>) {
        self.inner.lock().failures.load_error = message.map(str::to_owned);
    }

    /// Removes every failure injection.
    pub fn clear_failures(&self) {
        self.inner.lock().failures = Failures::default();
    }
}
