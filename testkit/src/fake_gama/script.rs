//! What happens in GAMA without a client asking: a person using GAMA's window (open, play, pause,
//! close, reload) and the model's own outputs (linker payloads, console lines, `end_of_game`).
//!
//! A test calls these to play GAMA's side of a scenario.

use super::state::{ExpKey, ExpState, Experiment, State, initial_state};
use super::wire::{
    ConsoleContent, EndOfGamePayload, GamaColor, LinkerBatch, LinkerElement, Unsolicited,
    linker_output_frame, to_raw, to_text,
};
use super::{FakeGama, FakeGamaOptions, GUI_MODEL_PATH, ServerMode};

impl FakeGama {
    /// What a person does in GAMA's window: open an experiment without any client command.
    /// Desktop: status NOTREADY, then PAUSED (RUNNING with autorun). Headless has no window: the
    /// experiment is created without owner (it sends nothing).
    pub fn open_experiment(&self, experiment: &str) {
        let opts = self.inner.opts.clone();
        match opts.mode {
            ServerMode::Desktop => {
                let generation = self
                    .inner
                    .with_state(|st| st.begin_desktop_open(experiment, GUI_MODEL_PATH));
                self.inner
                    .with_state(|st| st.finish_open(&opts, generation));
            }
            ServerMode::Headless => self.inner.with_state(|st| {
                st.next_exp_id += 1;
                let n = st.next_exp_id;
                st.sim.headless.insert(
                    n,
                    Experiment::new(
                        n.to_string(),
                        experiment.to_owned(),
                        GUI_MODEL_PATH.to_owned(),
                        None,
                        initial_state(&opts),
                    ),
                );
            }),
        }
    }

    fn gui(&self, f: impl FnOnce(&mut State, &FakeGamaOptions, ExpKey)) {
        let opts = self.inner.opts.clone();
        self.inner.with_state(|st| {
            if let Some(key) = st.current_key(opts.mode) {
                f(st, &opts, key);
            }
        });
    }

    /// The Play button of GAMA's window.
    pub fn gui_play(&self) {
        self.gui(|st, opts, key| st.set_state(opts, key, ExpState::Running));
    }

    /// The Pause button of GAMA's window.
    pub fn gui_pause(&self) {
        self.gui(|st, opts, key| st.set_state(opts, key, ExpState::Paused));
    }

    /// Closing the experiment in GAMA's window (status NONE).
    pub fn gui_close(&self) {
        self.gui(|st, opts, key| st.close_experiment(opts, key));
    }

    /// The Reload button: NOTREADY, players cleared, cycle 0, then PAUSED.
    pub fn gui_reload(&self) {
        self.gui(|st, opts, key| st.reload(opts, key));
    }

    /// The linker's `end_of_game`: `{"endOfGame":message}` to every player, then pause and
    /// reload (statuses PAUSED if it was running, NOTREADY, PAUSED); players cleared.
    pub fn end_of_game(&self, message: &str) {
        self.gui(|st, opts, key| {
            let players = st.exp(key).map(|e| e.players.clone()).unwrap_or_default();
            if !players.is_empty() {
                let batch = LinkerBatch {
                    contents: players
                        .into_iter()
                        .map(|p| LinkerElement {
                            id: vec![p],
                            contents: to_raw(&EndOfGamePayload {
                                end_of_game: message,
                            }),
                        })
                        .collect(),
                    ty: "output",
                };
                st.queue_linker(opts, key, &batch);
            }
            st.set_state(opts, key, ExpState::Paused);
            st.set_state(opts, key, ExpState::NotReady);
            if let Some(exp) = st.exp_mut(key) {
                exp.clear_run();
            }
            st.set_state(opts, key, ExpState::Paused);
        });
    }

    /// Sends a linker JSON text (e.g. `{"contents":[{"id":["p1"],"contents":{..}}],"type":"output"}`)
    /// as a `SimulationOutput` shaped per the content shape, to the socket receiving output.
    pub fn send_linker_output(&self, linker_json: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let exp_id = st
                .current_key(opts.mode)
                .and_then(|k| st.exp(k))
                .map(|e| e.id.clone())
                .unwrap_or_else(|| "0".to_owned());
            let frame = linker_output_frame(opts.content_shape, linker_json, &exp_id);
            if let Some(conn) = st.current_output_conn(opts.mode) {
                st.queue(conn, frame);
            }
        });
    }

    /// Sends a linker JSON text as a `SimulationOutput` of experiment `exp_id` (headless: to the
    /// socket that loaded it; desktop: the one experiment, to the newest socket).
    pub fn send_linker_output_of(&self, exp_id: &str, linker_json: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let key = match opts.mode {
                ServerMode::Desktop => ExpKey::Desktop,
                ServerMode::Headless => match exp_id.parse() {
                    Ok(n) => ExpKey::Headless(n),
                    Err(_) => return,
                },
            };
            if st.exp(key).is_some() {
                let frame = linker_output_frame(opts.content_shape, linker_json, exp_id);
                st.queue_output(opts.mode, key, frame);
            }
        });
    }

    /// Sends a console `write` output: `{"type":"SimulationOutput","content":{"message":..,
    /// "color":{..}},"exp_id":..}`.
    pub fn send_console(&self, message: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let exp_id = st
                .current_key(opts.mode)
                .and_then(|k| st.exp(k))
                .map(|e| e.id.clone())
                .unwrap_or_else(|| "0".to_owned());
            let frame = to_text(&Unsolicited {
                ty: "SimulationOutput",
                content: ConsoleContent {
                    message,
                    color: GamaColor {
                        gaml_type: "rgb",
                        red: 0,
                        green: 0,
                        blue: 0,
                        alpha: 255,
                    },
                },
                exp_id: &exp_id,
            });
            if let Some(conn) = st.current_output_conn(opts.mode) {
                st.queue(conn, frame);
            }
        });
    }

    /// Sends any text frame to the socket receiving output.
    pub fn send_raw(&self, frame: &str) {
        let mode = self.inner.opts.mode;
        self.inner.with_state(|st| {
            if let Some(conn) = st.current_output_conn(mode) {
                st.queue(conn, frame.to_owned());
            }
        });
    }
}
