//! The commands of gama-server's WebSocket API (`load`, `play`, `step`, `expression`…), as each
//! server mode answers them.
//!
//! Desktop and headless differ mostly in which experiment a command addresses ([`Ctx::lookup`]) and
//! in `load`; the rest is shared. The linker's own actions (`ask`) are in [`super::linker`].

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::args::{
    Resp, check_model, check_parameters, field_text, nb_step, non_empty_field, parse_do,
};
use super::gym;
use super::server::Inner;
use super::state::{ExpKey, ExpState, Experiment, State, initial_state};
use super::wire::{
    DescribeContent, DescribeExperiment, DescribeSpecies, socket_id_for, status_frame,
};
use super::{FakeGamaOptions, MAX_STEPS_PER_COMMAND, NO_EXPERIMENT, ServerMode};

/// Command handling: one event under the state lock.
pub(super) struct Ctx<'a> {
    pub(super) inner: &'a Arc<Inner>,
    pub(super) st: &'a mut State,
    pub(super) conn: u64,
}

impl Ctx<'_> {
    fn opts(&self) -> &FakeGamaOptions {
        &self.inner.opts
    }

    fn socket_id(&self) -> String {
        self.st
            .conns
            .get(&self.conn)
            .map(|c| c.socket_id.clone())
            .unwrap_or_else(|| socket_id_for(self.conn))
    }

    /// `retrieveExperimentPlan`: the frontmost experiment (desktop) or the (socket, exp_id) one.
    pub(super) fn lookup(&self, cmd: &Value, ty: &str) -> Result<ExpKey, Resp> {
        match self.opts().mode {
            // An experiment still opening has no agent yet: GAMA cannot find it.
            ServerMode::Desktop => match &self.st.sim.desktop {
                Some(e) if e.state != ExpState::NotReady => Ok(ExpKey::Desktop),
                _ => Err(Resp::unable(NO_EXPERIMENT)),
            },
            ServerMode::Headless => {
                let Some(exp_id) = non_empty_field(cmd, "exp_id") else {
                    return Err(Resp::malformed(&format!(
                        "For {ty}, mandatory parameter is: exp_id"
                    )));
                };
                let socket = non_empty_field(cmd, "socket_id").unwrap_or_else(|| self.socket_id());
                let found = exp_id.trim().parse::<u64>().ok().filter(|n| {
                    self.st
                        .sim
                        .headless
                        .get(n)
                        .is_some_and(|e| e.owner.as_deref() == Some(socket.as_str()))
                });
                found
                    .map(ExpKey::Headless)
                    .ok_or_else(|| Resp::unable(NO_EXPERIMENT))
            }
        }
    }

    pub(super) fn dispatch(&mut self, ty: &str, cmd: &Value) -> Resp {
        match ty {
            "load" => self.load(cmd),
            "play" => self.play_pause(cmd, ty, ExpState::Running),
            "pause" => self.play_pause(cmd, ty, ExpState::Paused),
            "step" => self.step(cmd, ty),
            "stepBack" | "back" => self.step_back(cmd, ty),
            "stop" => self.stop(cmd, ty),
            "reload" => self.reload(cmd, ty),
            "expression" | "evaluate" => self.expression(cmd, ty),
            "ask" => self.ask(cmd, ty),
            "validate" => match field_text(cmd, "expr") {
                Some(expr) => Resp::ok(expr.trim()),
                None => Resp::malformed("For validate, mandatory parameter is: expr"),
            },
            "describe" => self.describe(cmd),
            "upload" => match (field_text(cmd, "file"), field_text(cmd, "content")) {
                (Some(file), Some(content)) => {
                    self.st.sim.files.insert(file, content);
                    Resp::ok("")
                }
                _ => {
                    Resp::malformed("For 'upload', mandatory parameters are: 'file' and 'content'")
                }
            },
            "download" => match field_text(cmd, "file") {
                Some(file) => match self.st.sim.files.get(&file) {
                    Some(content) => Resp::ok(content.as_str()),
                    None => Resp::unable("Unable to download file"),
                },
                None => Resp::malformed("For 'download', mandatory parameter is: 'file'"),
            },
            other => Resp::server_error(&format!("Invalid command type: {other}")),
        }
    }

    fn load(&mut self, cmd: &Value) -> Resp {
        let opts = self.inner.opts.clone();
        if opts.mode == ServerMode::Desktop
            && self
                .st
                .sim
                .desktop
                .as_ref()
                .is_some_and(|e| e.state == ExpState::NotReady)
        {
            return Resp::unable("Unable to start new experiment, another one is loading");
        }
        let (Some(model), Some(experiment)) =
            (field_text(cmd, "model"), field_text(cmd, "experiment"))
        else {
            return Resp::malformed(
                "For 'load', mandatory parameters are: 'model' and 'experiment'",
            );
        };
        let (model, experiment) = (model.trim().to_owned(), experiment.trim().to_owned());
        if let Err(resp) = check_model(&model) {
            return resp;
        }
        if let Some(message) = self.st.failures.load_error.clone() {
            return Resp::unable(&message);
        }
        if let Err(resp) = check_parameters(cmd) {
            return resp;
        }
        match opts.mode {
            ServerMode::Desktop => {
                // The GUI server answers with the experiment name at once and opens the
                // experiment asynchronously on the UI thread (DefaultServerCommands.LOAD).
                let generation = self.st.begin_desktop_open(&experiment, &model);
                if opts.open_delay.is_zero() {
                    self.st.finish_open(&opts, generation);
                } else {
                    let inner = Arc::clone(self.inner);
                    tokio::spawn(async move {
                        tokio::time::sleep(inner.opts.open_delay).await;
                        inner.with_state(|st| st.finish_open(&inner.opts, generation));
                    });
                }
                Resp::ok(experiment.as_str())
            }
            ServerMode::Headless => {
                self.st.next_exp_id += 1;
                let n = self.st.next_exp_id;
                let owner = non_empty_field(cmd, "socket_id").unwrap_or_else(|| self.socket_id());
                let state = initial_state(&opts);
                let exp = Experiment::new(n.to_string(), experiment, model, Some(owner), state);
                self.st.sim.headless.insert(n, exp);
                if opts.headless_status {
                    let id = n.to_string();
                    let key = ExpKey::Headless(n);
                    self.st
                        .queue_output(opts.mode, key, status_frame("NOTREADY", &id));
                    self.st
                        .queue_output(opts.mode, key, status_frame(state.name(), &id));
                }
                Resp::ok(n.to_string().as_str())
            }
        }
    }

    fn play_pause(&mut self, cmd: &Value, ty: &str, target: ExpState) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let opts = self.inner.opts.clone();
        self.st.set_state(&opts, key, target);
        Resp::ok("")
    }

    fn step(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let n = match nb_step(cmd) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let opts = self.inner.opts.clone();
        if n > MAX_STEPS_PER_COMMAND {
            tracing::warn!("fake-gama: nb_step {n} capped to {MAX_STEPS_PER_COMMAND}");
        }
        for _ in 0..n.clamp(0, MAX_STEPS_PER_COMMAND) {
            self.st.run_cycle(&opts, key);
        }
        Resp::ok("")
    }

    fn step_back(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let n = match nb_step(cmd) {
            Ok(n) => n,
            Err(r) => return r,
        };
        if let Some(exp) = self.st.exp_mut(key) {
            exp.cycle = exp
                .cycle
                .saturating_sub(u64::try_from(n.max(0)).unwrap_or(0));
        }
        Resp::ok("")
    }

    fn stop(&mut self, cmd: &Value, ty: &str) -> Resp {
        let opts = self.inner.opts.clone();
        match opts.mode {
            // GAMA.closeAllExperiments: succeeds even without an experiment.
            ServerMode::Desktop => {
                if self.st.sim.desktop.is_some() {
                    self.st.close_experiment(&opts, ExpKey::Desktop);
                }
            }
            ServerMode::Headless => match self.lookup(cmd, ty) {
                Ok(key) => self.st.close_experiment(&opts, key),
                Err(r) => return r,
            },
        }
        Resp::ok("")
    }

    fn reload(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        if let Err(r) = check_parameters(cmd) {
            return r;
        }
        let opts = self.inner.opts.clone();
        self.st.reload(&opts, key);
        Resp::ok("")
    }

    fn expression(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let Some(expr) = field_text(cmd, "expr") else {
            return Resp::malformed(&format!("For {ty}, mandatory parameter is: expr"));
        };
        if let Some((_, message)) = self
            .st
            .failures
            .failing_expressions
            .iter()
            .find(|(needle, _)| expr.contains(needle.as_str()))
        {
            return Resp::unable(message);
        }
        let entered = expr.trim();
        if let Some(outcome) = self
            .st
            .exp_mut(key)
            .and_then(|e| e.gym.as_mut())
            .and_then(|agent| agent.evaluate(entered))
        {
            return match outcome {
                Ok(gym::Outcome::Value(content)) => Resp {
                    ty: "CommandExecutedSuccessfully",
                    content,
                },
                Ok(gym::Outcome::Done) => Resp::ok("null"),
                Err(message) => Resp::unable(&message),
            };
        }
        if entered == "cycle" {
            let cycle = self.st.exp(key).map(|e| e.cycle).unwrap_or(0);
            return Resp::ok(cycle.to_string().as_str());
        }
        if entered == "length(unity_player)" {
            let players = self.st.exp(key).map_or(0, |e| e.players.len());
            return Resp::ok(players.to_string().as_str());
        }
        match parse_do(entered) {
            Ok(Some(stmt)) => {
                match (stmt.action.as_str(), stmt.string_arg) {
                    ("create_player", Some(id)) => self.create_player(key, &id),
                    ("remove_player", Some(id)) => self.remove_player(key, &id),
                    ("create_player" | "remove_player", None) => {
                        return Resp::unable(&format!(
                            "> Error: {} expects one string argument: {entered}",
                            stmt.action
                        ));
                    }
                    _ => {}
                }
                // A statement is compiled into a temporary action without value: "null".
                Resp::ok("null")
            }
            Ok(None) => Resp::unable(&format!("> Error: unknown expression {entered}")),
            Err(syntax) => Resp::unable(&format!("> Error: {syntax}")),
        }
    }
    fn describe(&mut self, cmd: &Value) -> Resp {
        let Some(model) = field_text(cmd, "model").map(|m| m.trim().to_owned()) else {
            return Resp::malformed("For 'describe', mandatory parameter is: 'model'");
        };
        if let Err(r) = check_model(&model) {
            return r;
        }
        let name = Path::new(&model)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Resp::ok(&DescribeContent {
            experiments: vec![DescribeExperiment {
                name: "vr_xp".to_owned(),
                parameters: Vec::new(),
            }],
            species: vec![
                DescribeSpecies {
                    name: "unity_linker",
                },
                DescribeSpecies {
                    name: "unity_player",
                },
            ],
            name,
            path: model,
        })
    }
}
