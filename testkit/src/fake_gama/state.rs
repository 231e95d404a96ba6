//! The state of the fake GAMA: its experiments (keyed per server mode), its connections and
//! what it sends them, and the injected failures.
//!
//! Every event (a command, a tick, a test's action) changes it under one lock and queues the
//! frames it causes; [`State::flush`] hands them to the connections in order. The operations on
//! experiments live here, so that commands, the ticker and a test's scripted actions share them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::gym;
use super::scene::update_world;
use super::wire::{LinkerBatch, LinkerElement, linker_output_frame, status_frame, to_raw, to_text};
use super::{FakeGamaOptions, ServerMode};

/// State of an open experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExpState {
    NotReady,
    Paused,
    Running,
}

impl ExpState {
    pub(super) fn name(self) -> &'static str {
        match self {
            ExpState::NotReady => "NOTREADY",
            ExpState::Paused => "PAUSED",
            ExpState::Running => "RUNNING",
        }
    }
}

/// One experiment and the linker state inside it.
#[derive(Debug)]
pub(super) struct Experiment {
    /// `"0"` in desktop mode (the GUI server's constant), the decimal id in headless mode.
    pub(super) id: String,
    pub(super) name: String,
    pub(super) model: String,
    /// Headless: socket id of the owning socket (it receives the status and output).
    pub(super) owner: Option<String>,
    pub(super) state: ExpState,
    pub(super) cycle: u64,
    pub(super) players: Vec<String>,
    pub(super) ready: Vec<String>,
    pub(super) positions: HashMap<String, (i64, i64, i64, i64)>,
    /// Desktop: which opening this experiment belongs to (guards the delayed open step).
    pub(super) generation: u64,
    /// The `GymAgent` of a gym model (see [`gym`]).
    pub(super) gym: Option<gym::GymAgent>,
}

impl Experiment {
    pub(super) fn new(
        id: String,
        name: String,
        model: String,
        owner: Option<String>,
        state: ExpState,
    ) -> Self {
        let gym = gym::is_gym_model(&model).then(gym::GymAgent::new);
        Experiment {
            id,
            name,
            model,
            owner,
            state,
            cycle: 0,
            players: Vec::new(),
            ready: Vec::new(),
            gym,
            positions: HashMap::new(),
            generation: 0,
        }
    }

    pub(super) fn clear_run(&mut self) {
        if self.gym.is_some() {
            self.gym = Some(gym::GymAgent::new());
        }
        self.cycle = 0;
        self.players.clear();
        self.ready.clear();
        self.positions.clear();
    }
}

/// Which experiment a command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExpKey {
    Desktop,
    Headless(u64),
}

/// A frame queued for one connection's task.
#[derive(Debug)]
pub(super) enum Out {
    /// Send now (after what is already queued).
    Text(String),
    /// A command reply held back until the instant (reply-delay injection).
    Delayed(Instant, String),
    /// Send a close frame, finish the closing handshake, end the connection.
    Close(u16, String),
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) tx: mpsc::UnboundedSender<Out>,
    pub(super) socket_id: String,
}

/// Failure injection settings.
#[derive(Debug, Default)]
pub(super) struct Failures {
    pub(super) failing_expressions: Vec<(String, String)>,
    pub(super) swallowed: Vec<String>,
    pub(super) reply_delay: Option<Duration>,
    pub(super) load_error: Option<String>,
}

/// What GAMA loses when it crashes or quits.
#[derive(Debug, Default)]
pub(super) struct Sim {
    pub(super) desktop: Option<Experiment>,
    pub(super) headless: BTreeMap<u64, Experiment>,
    pub(super) files: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) listener: Option<JoinHandle<()>>,
    pub(super) ticker: Option<JoinHandle<()>>,
    pub(super) conn_tasks: HashMap<u64, JoinHandle<()>>,
    pub(super) conns: BTreeMap<u64, Conn>,
    /// The most recently connected socket (desktop mode: the one receiving status and output,
    /// even after it closed, as `GamaGuiWebSocketServer` keeps the last opened socket).
    pub(super) latest: Option<u64>,
    pub(super) accepted: usize,
    pub(super) commands: Vec<Value>,
    pub(super) next_exp_id: u64,
    pub(super) open_generation: u64,
    pub(super) sim: Sim,
    pub(super) failures: Failures,
    /// Frames produced while handling an event, flushed after the reply (see [`State::flush`]).
    pub(super) outbox: Vec<(u64, String)>,
}

impl State {
    /// Queues a frame for a connection; delivered by [`State::flush`].
    pub(super) fn queue(&mut self, conn: u64, frame: String) {
        self.outbox.push((conn, frame));
    }

    /// Hands every queued frame to its connection task, in order. Called while the state lock is
    /// still held so that frames from different events never interleave out of order.
    pub(super) fn flush(&mut self) {
        for (conn, frame) in self.outbox.drain(..) {
            if let Some(c) = self.conns.get(&conn) {
                let _ = c.tx.send(Out::Text(frame));
            }
        }
    }

    pub(super) fn send_now(&self, conn: u64, out: Out) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    /// The socket receiving status and output of an experiment (protocol.md §3.3).
    pub(super) fn output_conn(&self, mode: ServerMode, owner: Option<&str>) -> Option<u64> {
        match mode {
            ServerMode::Desktop => self.latest,
            ServerMode::Headless => owner.and_then(|o| {
                self.conns
                    .iter()
                    .find(|(_, c)| c.socket_id == o)
                    .map(|(id, _)| *id)
            }),
        }
    }

    /// The socket that receives output when no particular experiment is involved.
    pub(super) fn current_output_conn(&self, mode: ServerMode) -> Option<u64> {
        match self.current_key(mode) {
            Some(key) => {
                let owner = self.exp(key).and_then(|e| e.owner.clone());
                self.output_conn(mode, owner.as_deref())
            }
            None => self.latest,
        }
    }

    pub(super) fn exp(&self, key: ExpKey) -> Option<&Experiment> {
        match key {
            ExpKey::Desktop => self.sim.desktop.as_ref(),
            ExpKey::Headless(id) => self.sim.headless.get(&id),
        }
    }

    pub(super) fn exp_mut(&mut self, key: ExpKey) -> Option<&mut Experiment> {
        match key {
            ExpKey::Desktop => self.sim.desktop.as_mut(),
            ExpKey::Headless(id) => self.sim.headless.get_mut(&id),
        }
    }

    /// Desktop: the frontmost experiment; headless: the most recently loaded live one.
    pub(super) fn current_key(&self, mode: ServerMode) -> Option<ExpKey> {
        match mode {
            ServerMode::Desktop => self.sim.desktop.as_ref().map(|_| ExpKey::Desktop),
            ServerMode::Headless => self
                .sim
                .headless
                .keys()
                .next_back()
                .map(|id| ExpKey::Headless(*id)),
        }
    }

    pub(super) fn all_keys(&self) -> Vec<ExpKey> {
        let mut keys: Vec<ExpKey> = self.sim.desktop.iter().map(|_| ExpKey::Desktop).collect();
        keys.extend(self.sim.headless.keys().map(|id| ExpKey::Headless(*id)));
        keys
    }

    /// Queues a frame for the socket receiving `key`'s output.
    pub(super) fn queue_output(&mut self, mode: ServerMode, key: ExpKey, frame: String) {
        let owner = self.exp(key).and_then(|e| e.owner.clone());
        if let Some(conn) = self.output_conn(mode, owner.as_deref()) {
            self.queue(conn, frame);
        }
    }

    /// Queues a linker output (wrapped per the content shape) for `key`'s output socket.
    pub(super) fn queue_linker(
        &mut self,
        opts: &FakeGamaOptions,
        key: ExpKey,
        batch: &LinkerBatch,
    ) {
        let Some(exp_id) = self.exp(key).map(|e| e.id.clone()) else {
            return;
        };
        let frame = linker_output_frame(opts.content_shape, &to_text(batch), &exp_id);
        self.queue_output(opts.mode, key, frame);
    }

    /// Changes an experiment's state; a `SimulationStatus` is queued only on an actual change
    /// (desktop always, headless when `headless_status`).
    pub(super) fn set_state(&mut self, opts: &FakeGamaOptions, key: ExpKey, new: ExpState) {
        let Some(exp) = self.exp_mut(key) else {
            return;
        };
        if exp.state == new {
            return;
        }
        exp.state = new;
        let id = exp.id.clone();
        if emits_status(opts) {
            self.queue_output(opts.mode, key, status_frame(new.name(), &id));
        }
    }

    /// Closes an experiment (status NONE).
    pub(super) fn close_experiment(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        let Some(id) = self.exp(key).map(|e| e.id.clone()) else {
            return;
        };
        if emits_status(opts) {
            self.queue_output(opts.mode, key, status_frame("NONE", &id));
        }
        match key {
            ExpKey::Desktop => self.sim.desktop = None,
            ExpKey::Headless(n) => {
                self.sim.headless.remove(&n);
            }
        }
    }

    /// `reload`: NOTREADY, players cleared, cycle 0, then PAUSED (RUNNING with autorun).
    pub(super) fn reload(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        self.set_state(opts, key, ExpState::NotReady);
        if let Some(exp) = self.exp_mut(key) {
            exp.clear_run();
        }
        self.set_state(opts, key, initial_state(opts));
    }

    /// Desktop: opens a new frontmost experiment (replacing any previous one) in NOTREADY; it
    /// becomes PAUSED/RUNNING through [`State::finish_open`]. Returns the opening's generation.
    pub(super) fn begin_desktop_open(&mut self, name: &str, model: &str) -> u64 {
        self.open_generation += 1;
        let generation = self.open_generation;
        let previous = self.sim.desktop.as_ref().map(|e| e.state);
        let mut exp = Experiment::new(
            "0".to_owned(),
            name.to_owned(),
            model.to_owned(),
            None,
            ExpState::NotReady,
        );
        exp.generation = generation;
        self.sim.desktop = Some(exp);
        if previous != Some(ExpState::NotReady)
            && let Some(conn) = self.latest
        {
            self.queue(conn, status_frame("NOTREADY", "0"));
        }
        generation
    }

    /// Desktop: the experiment of opening `generation` finished opening.
    pub(super) fn finish_open(&mut self, opts: &FakeGamaOptions, generation: u64) {
        let current = self
            .sim
            .desktop
            .as_ref()
            .is_some_and(|e| e.generation == generation && e.state == ExpState::NotReady);
        if current {
            self.set_state(opts, ExpKey::Desktop, initial_state(opts));
        }
    }

    /// Headless: disposes every experiment of a socket that closed (no status: nobody to tell).
    pub(super) fn dispose_socket_experiments(&mut self, socket_id: &str) {
        self.sim
            .headless
            .retain(|_, e| e.owner.as_deref() != Some(socket_id));
    }

    /// One simulation cycle of a running experiment: cycle + 1 and a world update for the ready
    /// players (the linker's per-step `send_world`).
    pub(super) fn run_cycle(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        let Some(exp) = self.exp_mut(key) else {
            return;
        };
        exp.cycle += 1;
        if let Some(agent) = &mut exp.gym {
            agent.step();
        }
        let ready = if opts.push_worlds {
            exp.players.clone()
        } else {
            exp.ready.clone()
        };
        if !opts.linker || ready.is_empty() {
            return;
        }
        let cycle = exp.cycle;
        let contents = ready
            .into_iter()
            .map(|p| LinkerElement {
                id: vec![p],
                contents: to_raw(&update_world(opts.scene, cycle)),
            })
            .collect();
        self.queue_linker(
            opts,
            key,
            &LinkerBatch {
                contents,
                ty: "output",
            },
        );
    }

    /// Resets what a GAMA process loses when it stops.
    pub(super) fn reset_sim(&mut self) {
        self.sim = Sim::default();
        self.latest = None;
        self.outbox.clear();
    }
}

pub(super) fn emits_status(opts: &FakeGamaOptions) -> bool {
    opts.mode == ServerMode::Desktop || opts.headless_status
}

pub(super) fn initial_state(opts: &FakeGamaOptions) -> ExpState {
    if opts.autorun {
        ExpState::Running
    } else {
        ExpState::Paused
    }
}
