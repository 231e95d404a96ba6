//! Sessions kept for debriefing: every experiment run (a launch to its stop, or GAMA's own start
//! to its end) is written to its own files in `sessions.folder`, so that after a participatory
//! session the teacher and the students can go over what happened: who was in, who did what,
//! when, and what the simulation showed them.
//!
//! A kept session is compact: world updates are kept at most `sessions.world_updates_per_second`
//! per player (every other message whole), in zstd frames of [`write::CHUNK_MS`] each that start
//! with a snapshot of every player's view, so that seeking reads one frame, never the whole file.
//! A small timeline file (states, actions counted per second, pace, operator changes) opens a
//! session at once. The total kept is bounded (`sessions.max_total_bytes`, `sessions.max_count`;
//! the session in progress is never removed). Writing happens on a thread of its own, fed through a
//! bounded queue the hot path never waits on; what does not fit is counted and logged.
//!
//! [`Sessions`] is the handle the relay feeds; [`read`] opens kept sessions for the admin page, the
//! playback and `gama-vr-relay sessions`; [`view`] is a session's view at one moment, and
//! `playback` decides what playing it back sends the page.

#[doc(hidden)]
pub mod bench;
pub mod export;
pub(crate) mod playback;
pub mod read;
pub mod view;
mod write;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{info, warn};

use crate::config::SessionsConfig;
use crate::protocol::Frame;
use crate::protocol::linker::{Delivery, PayloadKind};
use crate::server::metrics::Metrics;
use crate::support::pace::LogLimiter;
use crate::support::queue::{self, TrySendError};

static DROPPED: LogLimiter = LogLimiter::new(Duration::from_secs(5));

/// How long a session that ended still takes what comes (the operator's stop, last states).
const LINGER: Duration = Duration::from_millis(1500);

/// How far back the operator's changes made while no session ran go into the next session (the
/// launch that starts it, a player let in just before): at its very start.
const LEAD_IN: Duration = Duration::from_secs(10);
/// At most this many of them.
const LEAD_IN_MAX: usize = 64;

/// What a headset did, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActKind {
    /// An `ask` (its action's name).
    Ask,
    /// An `expression` (its text, shortened).
    Expression,
}

/// One thing to write down, with when it happened.
pub(crate) enum Event {
    /// A linker payload delivered to players.
    Out {
        at: Instant,
        players: Vec<String>,
        frame: Frame,
        kind: PayloadKind,
    },
    /// A headset's ask or expression (`args`: an ask's arguments, for positions).
    Act {
        at: Instant,
        player: Arc<str>,
        kind: ActKind,
        name: String,
        args: Option<String>,
    },
    /// GAMA's experiment state.
    Experiment { at: Instant, state: String },
    /// A player's state (`in_game`, `waiting`, `disconnected`, gone…).
    Player {
        at: Instant,
        id: String,
        state: String,
    },
    /// GAMA's pace: linker outputs per second.
    Pace { at: Instant, per_second: f64 },
    /// An operator's change (its JSON).
    Audit { at: Instant, json: Vec<u8> },
    /// The run is over at `at`; what comes before `until` still goes in.
    End { at: Instant, until: Instant },
}

/// What a session is about, when it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Start {
    /// The model's name, as the catalog shows it.
    pub model: Option<String>,
    /// GAMA's experiment name.
    pub experiment: Option<String>,
}

/// The handle the relay feeds; cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    config: SessionsConfig,
    folder: PathBuf,
    /// A session is being written: skips all work otherwise.
    active: AtomicBool,
    tx: Mutex<Option<queue::Sender<Event>>>,
    /// The session in progress, if any.
    current: Mutex<Option<String>>,
    /// The selected model's name, for the next session.
    model: Mutex<Option<String>>,
    /// The operator's changes of the last [`LEAD_IN`] while no session ran.
    lead_in: Mutex<VecDeque<(Instant, Vec<u8>)>>,
    metrics: Arc<Metrics>,
}

impl Sessions {
    /// Sessions kept in `folder` (already resolved), as `config` says.
    pub fn new(config: SessionsConfig, folder: PathBuf, metrics: Arc<Metrics>) -> Self {
        Sessions {
            inner: Arc::new(Inner {
                config,
                folder,
                active: AtomicBool::new(false),
                tx: Mutex::new(None),
                current: Mutex::new(None),
                model: Mutex::new(None),
                lead_in: Mutex::new(VecDeque::new()),
                metrics,
            }),
        }
    }

    /// Where sessions are kept.
    pub fn folder(&self) -> &Path {
        &self.inner.folder
    }

    /// The id of the session being written, if any.
    pub fn current(&self) -> Option<String> {
        self.inner.current.lock().clone()
    }

    /// The model a session is about, from now on (the operator's selection).
    pub fn set_model(&self, name: Option<String>) {
        *self.inner.model.lock() = name;
    }

    /// A run of GAMA's `experiment` starts: a new session (the previous one, if any, ends first).
    /// Cheap, and called before any player is added to the run, so nothing is missed: the files
    /// are created by the writer's own thread.
    pub fn start(&self, experiment: Option<String>) {
        if !self.inner.config.enabled {
            return;
        }
        let start = Start {
            model: self.inner.model.lock().clone(),
            experiment,
        };
        self.finish(Duration::ZERO);
        let (tx, rx) = queue::bounded(self.inner.config.max_queued_messages);
        let id = write::new_id(&self.inner.folder, &start);
        let folder = self.inner.folder.clone();
        let config = self.inner.config.clone();
        let session = id.clone();
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("session".into())
            .spawn(move || {
                let writer = std::fs::create_dir_all(&folder).and_then(|()| {
                    write::Writer::create(&folder, &session, &start, &config, started)
                });
                match writer {
                    Ok(writer) => {
                        info!(session = %session, folder = %folder.display(), "keeping this session for debriefing");
                        read::prune(&folder, &config, Some(&session));
                        writer.run(rx);
                        read::prune(&folder, &config, None);
                    }
                    Err(e) => {
                        warn!(folder = %folder.display(), error = %e, "cannot create the session's files; this session is not kept")
                    }
                }
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the session writer; this session is not kept");
            return;
        }
        // What the operator did just before (the launch itself) opens the session. Held until the
        // session is active, so that no change falls between the two.
        let mut lead_in = self.inner.lead_in.lock();
        let now = Instant::now();
        for (at, json) in lead_in.drain(..) {
            if now.duration_since(at) <= LEAD_IN {
                let _ = tx.try_send(Event::Audit { at, json });
            }
        }
        *self.inner.current.lock() = Some(id);
        *self.inner.tx.lock() = Some(tx);
        self.inner.active.store(true, Ordering::Release);
        drop(lead_in);
    }

    /// The run is over. What still comes in [`LINGER`] (the operator's stop, the players' last
    /// states) goes in too, then the session is finished.
    pub fn end(&self) {
        self.finish(LINGER);
    }

    fn finish(&self, linger: Duration) {
        let tx = self.inner.tx.lock();
        if let Some(tx) = tx.as_ref() {
            // A full queue still ends the session: the writer stops when the sender is dropped.
            let now = Instant::now();
            let _ = tx.try_send(Event::End {
                at: now,
                until: now + linger,
            });
        }
        *self.inner.current.lock() = None;
        if linger.is_zero() {
            drop(tx);
            self.inner.active.store(false, Ordering::Release);
            *self.inner.tx.lock() = None;
        }
    }

    /// Whether a session is being written (so callers skip building events otherwise).
    pub fn active(&self) -> bool {
        self.inner.active.load(Ordering::Acquire)
    }

    /// A delivery of linker output (the hot path: moved in, never copied, never waited on).
    pub fn delivery(&self, d: Delivery) {
        if self.active() {
            self.push(Event::Out {
                at: Instant::now(),
                players: d.players,
                frame: d.frame,
                kind: d.kind,
            });
        }
    }

    /// A headset's ask or expression.
    pub fn act(&self, player: &Arc<str>, kind: ActKind, name: &str, args: Option<&str>) {
        if self.active() {
            self.push(Event::Act {
                at: Instant::now(),
                player: player.clone(),
                kind,
                name: name.to_string(),
                args: args.map(str::to_string),
            });
        }
    }

    /// GAMA's experiment state changed.
    pub fn experiment(&self, state: &str) {
        if self.active() {
            self.push(Event::Experiment {
                at: Instant::now(),
                state: state.to_string(),
            });
        }
    }

    /// A player's state changed (`gone` when it left the relay).
    pub fn player(&self, id: &str, state: &str) {
        if self.active() {
            self.push(Event::Player {
                at: Instant::now(),
                id: id.to_string(),
                state: state.to_string(),
            });
        }
    }

    /// GAMA's pace, once a second.
    pub fn pace(&self, per_second: f64) {
        if self.active() {
            self.push(Event::Pace {
                at: Instant::now(),
                per_second,
            });
        }
    }

    /// An operator's change. Made while no session runs, it is held for [`LEAD_IN`]: the launch
    /// that starts the next session belongs to it.
    pub fn audit(&self, json: Vec<u8>) {
        if !self.inner.config.enabled {
            return;
        }
        let mut lead_in = self.inner.lead_in.lock();
        let at = Instant::now();
        if self.active() {
            drop(lead_in);
            self.push(Event::Audit { at, json });
            return;
        }
        while lead_in.len() >= LEAD_IN_MAX
            || lead_in
                .front()
                .is_some_and(|(t, _)| at.duration_since(*t) > LEAD_IN)
        {
            lead_in.pop_front();
        }
        lead_in.push_back((at, json));
    }

    fn push(&self, event: Event) {
        let mut tx = self.inner.tx.lock();
        let Some(sender) = tx.as_ref() else { return };
        match sender.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.inner.metrics.session_dropped.inc();
                if let Some(suppressed) = DROPPED.check() {
                    warn!(
                        dropped = suppressed + 1,
                        "the disk cannot keep up with the kept session; messages are left out of it"
                    );
                }
            }
            // The session was finished (after its linger time): nothing more goes in.
            Err(TrySendError::Disconnected(_)) => {
                *tx = None;
                self.inner.active.store(false, Ordering::Release);
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.get_mut().take() {
            let now = Instant::now();
            let _ = tx.try_send(Event::End {
                at: now,
                until: now,
            });
        }
    }
}
