//! What GAMA's messages mean, once read off the connection: the session's linker output delivered
//! on the hot path, replies handed to whoever sent the command (the relay or one of its tools),
//! what a success says about the experiment, and what GAMA reports of its state and errors.

use std::time::Duration;

use tracing::{debug, info, warn};

use crate::gama::{
    Entry, ExperimentState, GamaError, GamaEvents, GamaLink, Pending, ServerMode, Waiter,
};
use crate::protocol::Frame;
use crate::protocol::command::CommandKind;
use crate::protocol::gama::{Envelope, MessageType};
use crate::protocol::linker::{self, Output, Read};
use crate::support::excerpt::truncate;
use crate::support::pace::LogLimiter;

/// Unreadable messages (and binary frames) from GAMA, logged at this pace.
pub(super) static UNREADABLE: LogLimiter = LogLimiter::new(Duration::from_secs(5));
static SIM_ERRORS: LogLimiter = LogLimiter::new(Duration::from_secs(1));
static OTHER_OUTPUT: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// Takes one text frame from GAMA.
pub(super) fn handle_frame(
    link: &GamaLink,
    pending: &Pending,
    events: &dyn GamaEvents,
    frame: &Frame,
) {
    events.gama_frame(frame);
    let text = frame.as_str();
    // Desktop GAMA holds a tool's experiment: what it says is that tool's, not the headsets'.
    let holder = link.holder();
    if holder != 0 {
        match Envelope::parse(text) {
            Ok(envelope) => handle_message(link, pending, events, &envelope, frame, holder),
            Err(e) => {
                if let Some(suppressed) = UNREADABLE.check() {
                    warn!(error = %e, suppressed, frame = %truncate(text, 120), "unreadable message from GAMA, ignored");
                }
            }
        }
        return;
    }
    // The hot path: linker output is read straight from the frame, each element delivered as soon
    // as it is read.
    let envelope = match linker::read(text, &mut |d| events.deliver(d)) {
        Read::Output(output) => {
            match output {
                Output::Linker(elements) => events.linker_output(elements),
                Output::Pong => debug!("GAMA linker answered ping_GAMA"),
                Output::Console(message) => debug!(target: "gama_console", "{message}"),
                Output::Other(text) => {
                    if let Some(suppressed) = OTHER_OUTPUT.check() {
                        debug!(suppressed, content = %text, "simulation output that is not linker output, ignored");
                    }
                }
            }
            return;
        }
        Read::Other(envelope) => envelope,
        Read::Unreadable(e) => {
            if let Some(suppressed) = UNREADABLE.check() {
                warn!(error = %e, suppressed, frame = %truncate(text, 120), "unreadable message from GAMA, ignored");
            }
            return;
        }
    };
    handle_message(link, pending, events, &envelope, frame, 0);
}

/// A message other than the session's linker output: a reply goes to whoever sent the command;
/// anything else updates what the relay knows of GAMA and, when GAMA holds tool `holder`'s
/// experiment (not 0), goes to that tool.
fn handle_message(
    link: &GamaLink,
    pending: &Pending,
    events: &dyn GamaEvents,
    envelope: &Envelope<'_>,
    frame: &Frame,
    holder: u64,
) {
    let kind = envelope.message_type();
    if envelope.command.is_some()
        && matches!(
            kind,
            MessageType::CommandExecutedSuccessfully
                | MessageType::UnableToExecuteRequest
                | MessageType::MalformedRequest
                | MessageType::GamaServerError
                | MessageType::SimulationEnded
        )
    {
        // Replies go to whoever sent the command (the relay or one tool), never to everyone.
        resolve(link, pending, events, envelope, kind, frame);
        return;
    }
    if holder != 0 && kind != MessageType::ConnectionSuccessful {
        events.tool_frame(holder, frame);
    }
    match kind {
        MessageType::SimulationStatus => {
            let state = ExperimentState::from_name(&envelope.content_str().unwrap_or_default());
            let exp_id = envelope.exp_id();
            let changed = link.update(|s| {
                // gama-headless keeps one experiment per load: those of tools connected through
                // the relay are theirs, not the session's.
                if s.mode == Some(ServerMode::Headless) && exp_id.is_some() && s.exp_id != exp_id {
                    return false;
                }
                if exp_id.is_some() {
                    s.exp_id = exp_id.clone();
                }
                let changed = s.experiment != state;
                s.set_experiment(state.clone());
                changed
            });
            if changed {
                info!(
                    state = state.name(),
                    exp_id = exp_id.as_deref().unwrap_or(""),
                    "GAMA experiment state"
                );
            }
        }
        MessageType::ConnectionSuccessful => {
            debug!(socket = %envelope.content_message(), "GAMA accepted the connection");
        }
        MessageType::SimulationError
        | MessageType::RuntimeError
        | MessageType::SimulationErrorDialog
        | MessageType::SimulationStatusError
        | MessageType::GamaServerError
        | MessageType::MalformedRequest
        | MessageType::UnableToExecuteRequest => {
            let message = format!("{}: {}", envelope.kind, envelope.content_message());
            if let Some(suppressed) = SIM_ERRORS.check() {
                warn!(suppressed, "GAMA reported {message}");
            }
            link.update(|s| s.record_error(message));
        }
        _ => {
            debug!(kind = %envelope.kind, content = %truncate(&envelope.content_message(), 200), "GAMA message")
        }
    }
}

/// Hands a reply to whoever waits for it and applies what a success means for the experiment.
/// Returns whether it answered a command of the relay or of one of its tools.
fn resolve(
    link: &GamaLink,
    pending: &Pending,
    events: &dyn GamaEvents,
    envelope: &Envelope<'_>,
    kind: MessageType,
    frame: &Frame,
) -> bool {
    let entry = match envelope.correlation() {
        Some(seq) => pending.take(seq),
        None => envelope
            .command_type()
            .and_then(|t| command_kind(&t))
            .and_then(|k| pending.take_oldest(k)),
    };
    let Some(Entry {
        kind: command,
        experiment,
        waiter,
        record_failure,
        sent,
        ..
    }) = entry
    else {
        // A reply to a command that already timed out, or to another client's command.
        if kind.is_command_failure() {
            let message = format!("{}: {}", envelope.kind, envelope.content_message());
            debug!("late or foreign GAMA error reply: {message}");
        }
        return false;
    };
    let metrics = &link.inner.metrics;
    metrics.command_answered(command, sent.elapsed());
    // A tool's command: its reply is the tool's business, as GAMA wrote it but for the echoed
    // command, which is the tool's own, without the relay's correlation field.
    if let Waiter::Client {
        reply,
        command: sent,
        ..
    } = &waiter
    {
        if kind.is_command_failure() {
            metrics.command_failed(command, &envelope.kind);
        }
        let answer = envelope
            .with_command(frame.as_str(), sent.as_str())
            .map_or_else(|| frame.clone(), Frame::from);
        (reply.0)(answer);
        return true;
    }
    let result = outcome(
        link,
        envelope,
        kind,
        command,
        experiment.as_deref(),
        record_failure,
    );
    match waiter {
        Waiter::Reply(tx) => {
            let _ = tx.send(result);
        }
        Waiter::Detached { player } => {
            if let Err(error) = &result {
                events.player_command_failed(&player, error);
            }
        }
        Waiter::Client { .. } => {}
    }
    true
}

/// What a reply to one of the relay's own commands means: GAMA's refusal (written down unless
/// `record_failure` is off, as for a probe, whose refusal is an answer), or its content, with what
/// that success says about the experiment applied.
fn outcome(
    link: &GamaLink,
    envelope: &Envelope<'_>,
    kind: MessageType,
    command: CommandKind,
    experiment: Option<&str>,
    record_failure: bool,
) -> Result<String, GamaError> {
    if kind.is_command_failure() {
        let message = envelope.content_message();
        // A probe's refusal is an answer, not an error.
        if record_failure {
            link.inner.metrics.command_failed(command, &envelope.kind);
            link.update(|s| s.record_error(format!("{command} failed: {message}")));
        }
        Err(GamaError::Rejected {
            command,
            kind: envelope.kind.to_string(),
            message,
        })
    } else {
        let content = envelope
            .content_str()
            .map(|c| c.into_owned())
            .or_else(|| envelope.content.map(|c| c.get().to_string()))
            .unwrap_or_default();
        apply_success(link, command, experiment, &content);
        Ok(content)
    }
}

fn command_kind(name: &str) -> Option<CommandKind> {
    Some(match name {
        "load" => CommandKind::Load,
        "play" => CommandKind::Play,
        "pause" => CommandKind::Pause,
        "stop" => CommandKind::Stop,
        "expression" => CommandKind::Expression,
        "ask" => CommandKind::Ask,
        _ => return None,
    })
}

/// What an acknowledged command says about the experiment, for servers that send no status.
fn apply_success(link: &GamaLink, command: CommandKind, experiment: Option<&str>, content: &str) {
    match command {
        CommandKind::Load => link.update(|s| {
            let mode = *s.mode.get_or_insert(match experiment {
                Some(name) if name == content => ServerMode::Desktop,
                _ => ServerMode::Headless,
            });
            s.experiment_name = experiment.map(str::to_string);
            // The relay's own experiment replaces a tool's: the session is back, once it opens.
            if s.tool_hold.take().is_some() {
                s.set_experiment(ExperimentState::NotReady);
            }
            match mode {
                // The desktop server answers before the experiment opens; statuses follow.
                ServerMode::Desktop => {}
                // gama-headless answers once the experiment is built, paused, under this id.
                ServerMode::Headless => {
                    s.exp_id = Some(content.to_string());
                    if !s.experiment.is_live() {
                        s.set_experiment(ExperimentState::Paused);
                    }
                }
            }
            s.last_error = None;
        }),
        CommandKind::Play => link.update(|s| {
            if s.experiment == ExperimentState::Paused {
                s.set_experiment(ExperimentState::Running);
            }
        }),
        CommandKind::Pause => link.update(|s| {
            if s.experiment == ExperimentState::Running {
                s.set_experiment(ExperimentState::Paused);
            }
        }),
        CommandKind::Stop => link.update(|s| s.set_experiment(ExperimentState::None)),
        CommandKind::Expression | CommandKind::Ask | CommandKind::Client => {}
    }
}
