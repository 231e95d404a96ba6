//! [`FakeGama`], the handle a test holds: starting the fake, where it listens, and what it saw
//! (commands, connections, experiments, players), with event-driven waits on them.
//!
//! What a test makes the fake do is in [`super::script`] (GAMA's window, the model's outputs) and
//! [`super::faults`] (crashes, restarts, hung or failing commands).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::FakeGamaOptions;
use super::connection::{accept_loop, ticker};
use super::server::{Inner, ShutdownGuard, bind_listener};
use super::state::{Experiment, State};

/// A fake gama-server. Cheap to clone (all clones drive the same server); dropping the last clone
/// stops the server and all its tasks.
#[derive(Clone)]
pub struct FakeGama {
    pub(super) inner: Arc<Inner>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for FakeGama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGama")
            .field("addr", &self.inner.addr)
            .field("mode", &self.inner.opts.mode)
            .finish_non_exhaustive()
    }
}

impl FakeGama {
    /// Starts a fake gama-server listening on `opts.bind`. Must be called inside a tokio runtime:
    /// the server's tasks run on it (use a multi-thread runtime when the test blocks a thread,
    /// e.g. on a child process).
    pub async fn start(opts: FakeGamaOptions) -> anyhow::Result<FakeGama> {
        let listener = bind_listener(opts.bind)
            .with_context(|| format!("fake-gama: cannot listen on {}", opts.bind))?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            opts,
            addr,
            state: Mutex::new(State::default()),
            changed,
            next_conn: AtomicU64::new(1),
        });
        {
            let mut st = inner.lock();
            st.listener = Some(tokio::spawn(accept_loop(Arc::clone(&inner), listener)));
            st.ticker = Some(tokio::spawn(ticker(Arc::clone(&inner))));
        }
        tracing::info!(
            "fake-gama listening on ws://{addr} ({:?} mode)",
            inner.opts.mode
        );
        Ok(FakeGama {
            _guard: Arc::new(ShutdownGuard {
                inner: Arc::clone(&inner),
            }),
            inner,
        })
    }

    /// The listening address (stable across [`FakeGama::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }

    /// `ws://` URL of the server, for a relay configuration.
    pub fn url(&self) -> String {
        format!("ws://{}", self.inner.addr)
    }

    /// The options the server runs with.
    pub fn options(&self) -> &FakeGamaOptions {
        &self.inner.opts
    }

    /// Every command received so far (parsed JSON objects), all sockets, in arrival order.
    pub fn commands(&self) -> Vec<Value> {
        self.inner.lock().commands.clone()
    }

    /// The received commands whose `type` is `ty`.
    pub fn commands_of_type(&self, ty: &str) -> Vec<Value> {
        self.inner
            .lock()
            .commands
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            .cloned()
            .collect()
    }

    /// The first command (already received or arriving within `timeout`) matching `pred`.
    pub async fn wait_command(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let found = self
            .wait_until(timeout, || {
                self.inner.lock().commands.iter().find(|c| pred(c)).cloned()
            })
            .await;
        match found {
            Some(c) => Ok(c),
            None => bail!(
                "fake-gama: no matching command within {timeout:?}; received: {}",
                Value::Array(self.commands())
            ),
        }
    }

    /// Total WebSocket handshakes since start (across restarts).
    pub fn accepted_connections(&self) -> usize {
        self.inner.lock().accepted
    }

    /// Currently open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.inner.lock().conns.len()
    }

    /// Waits until exactly `n` connections are open.
    pub async fn wait_open_connections(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("{n} open connection(s)"), |g| {
            g.open_connections() == n
        })
        .await
        .with_context(|| format!("open connections: {}", self.open_connections()))
    }

    /// Waits until `cond` holds (re-checked after every change of the fake's state).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&FakeGama) -> bool,
    ) -> anyhow::Result<()> {
        match self.wait_until(timeout, || cond(self).then_some(())).await {
            Some(()) => Ok(()),
            None => bail!("fake-gama: timed out after {timeout:?} waiting for {what}"),
        }
    }

    /// Waits until [`FakeGama::experiment_state`] is `state`.
    pub async fn wait_experiment_state(
        &self,
        state: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("experiment state {state}"), |g| {
            g.experiment_state() == state
        })
        .await
        .with_context(|| format!("experiment state: {}", self.experiment_state()))
    }

    /// Waits until [`FakeGama::players`] equals `players` (in order).
    pub async fn wait_players(&self, players: &[&str], timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("players {players:?}"), |g| {
            g.players() == players
        })
        .await
        .with_context(|| format!("players: {:?}", self.players()))
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.inner.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return probe(),
            }
        }
    }

    /// `"NONE" | "NOTREADY" | "PAUSED" | "RUNNING"`: desktop, the frontmost experiment;
    /// headless, the most recently loaded live experiment.
    pub fn experiment_state(&self) -> String {
        let st = self.inner.lock();
        st.current_key(self.inner.opts.mode)
            .and_then(|k| st.exp(k))
            .map(|e| e.state.name())
            .unwrap_or("NONE")
            .to_owned()
    }

    /// Id of the current experiment (`"0"` in desktop mode), if any.
    pub fn experiment_id(&self) -> Option<String> {
        self.with_current(|e| e.id.clone())
    }

    /// Name of the current experiment, if any.
    pub fn experiment_name(&self) -> Option<String> {
        self.with_current(|e| e.name.clone())
    }

    /// Model path of the current experiment, if any.
    pub fn experiment_model(&self) -> Option<String> {
        self.with_current(|e| e.model.clone())
    }

    /// Number of live experiments (always 0 or 1 in desktop mode).
    pub fn experiment_count(&self) -> usize {
        let st = self.inner.lock();
        st.sim.headless.len() + usize::from(st.sim.desktop.is_some())
    }

    fn with_current<T>(&self, f: impl FnOnce(&Experiment) -> T) -> Option<T> {
        let st = self.inner.lock();
        st.current_key(self.inner.opts.mode)
            .and_then(|k| st.exp(k))
            .map(f)
    }

    /// The `unity_player` agents of the current experiment, in creation order.
    pub fn players(&self) -> Vec<String> {
        self.with_current(|e| e.players.clone()).unwrap_or_default()
    }

    /// Players that asked `player_ready_to_receive_geometries` (and were not re-initialised).
    pub fn ready_players(&self) -> Vec<String> {
        self.with_current(|e| e.ready.clone()).unwrap_or_default()
    }

    /// Last `move_player_external` position `(x, y, z, angle)` of a player.
    pub fn player_position(&self, id: &str) -> Option<(i64, i64, i64, i64)> {
        self.with_current(|e| e.positions.get(id).copied())
            .flatten()
    }

    /// The current experiment's cycle (0 without experiment).
    pub fn cycle(&self) -> u64 {
        self.with_current(|e| e.cycle).unwrap_or(0)
    }
}
