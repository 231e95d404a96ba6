//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! Counters are plain atomics bumped where the work happens (the hot path pays an atomic add, no
//! lock). Gauges that describe the session (players, queues, GAMA's state) are read from the relay
//! when a scrape comes, so they can never drift from what the admin page shows. No metric carries a
//! player id: the endpoint can stay as open as `/healthz`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::protocol::command::CommandKind;

/// Which GAMA command a latency or an error is about.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// `load`, `play`, `pause`, `stop`, `expression`, `ask`.
    pub command: String,
}

/// A GAMA command that failed, and how.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The command.
    pub command: String,
    /// `UnableToExecuteRequest`, `MalformedRequest`, `GamaServerError`, `Timeout`, `Disconnected`.
    pub kind: String,
}

/// Why a headset's command did not reach GAMA.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DropReason {
    /// No experiment live (or GAMA not connected).
    not_live,
    /// Too many commands waiting for GAMA.
    gama_busy,
}

/// Label set of [`Metrics::headset_commands_dropped`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// Why.
    pub reason: DropReason,
}

/// State label of the GAMA state gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The state's name.
    pub state: String,
}

/// Every metric of the relay.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Messages received from headsets.
    pub headset_messages_in: Counter,
    /// Bytes received from headsets.
    pub headset_bytes_in: Counter,
    /// Messages written to headsets.
    pub headset_messages_out: Counter,
    /// Bytes written to headsets.
    pub headset_bytes_out: Counter,
    /// World updates replaced by newer ones for a headset that fell behind.
    pub world_updates_coalesced: Counter,
    /// Headsets disconnected because their queue passed `headsets.max_queue_bytes`.
    pub slow_headsets_disconnected: Counter,
    /// Linker output addressed to a player that is not connected.
    pub outputs_for_absent_players: Counter,
    /// Headsets' asks and expressions not forwarded to GAMA, by reason.
    pub headset_commands_dropped: Family<DropLabels, Counter>,
    /// Messages received from GAMA.
    pub gama_messages_in: Counter,
    /// Bytes received from GAMA.
    pub gama_bytes_in: Counter,
    /// Commands sent to GAMA.
    pub gama_messages_out: Counter,
    /// Bytes sent to GAMA.
    pub gama_bytes_out: Counter,
    /// Connections made to GAMA (the first one and every reconnection).
    pub gama_connections: Counter,
    /// Time from sending a command to GAMA's reply.
    pub gama_command_seconds: Family<CommandLabels, Histogram>,
    /// Commands GAMA refused or did not answer.
    pub gama_command_errors: Family<ErrorLabels, Counter>,
    /// Messages left out of the recording because its writer could not keep up.
    pub recording_dropped: Counter,
    /// Messages left out of the kept session because its writer could not keep up.
    pub session_dropped: Counter,
    /// Connections refused because they claimed the id of a live player from another address.
    pub takeovers_refused: Counter,
    /// Headset connections refused because their address is outside `headsets.allowed_networks`.
    pub headsets_refused_network: Counter,
    /// Admin API and tool endpoint requests with a wrong or missing token.
    pub token_failures: Counter,
    players: Family<StateLabels, Gauge>,
    headset_connections: Gauge,
    queue_bytes: Gauge,
    gama_link: Family<StateLabels, Gauge>,
    gama_experiment: Family<StateLabels, Gauge>,
}

fn command_seconds_histogram() -> Histogram {
    // 100 µs to ~26 s: from an ask on loopback to a load compiling a model.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 19,
    ))
}

impl Metrics {
    /// A registry with every metric at zero.
    ///
    /// The metrics are registered in groups, in the order `/metrics` lists them.
    pub fn new() -> Arc<Self> {
        let m = Metrics::zero();
        let mut registry = Registry::with_prefix("gama_vr_relay");
        register_headset_traffic(&mut registry, &m);
        register_gama_traffic(&mut registry, &m);
        register_losses_and_refusals(&mut registry, &m);
        register_session_gauges(&mut registry, &m);
        Arc::new(Metrics { registry, ..m })
    }

    /// Every metric at zero, in an empty registry.
    fn zero() -> Metrics {
        Metrics {
            headset_messages_in: Counter::default(),
            headset_bytes_in: Counter::default(),
            headset_messages_out: Counter::default(),
            headset_bytes_out: Counter::default(),
            world_updates_coalesced: Counter::default(),
            slow_headsets_disconnected: Counter::default(),
            outputs_for_absent_players: Counter::default(),
            headset_commands_dropped: Family::default(),
            gama_messages_in: Counter::default(),
            gama_bytes_in: Counter::default(),
            gama_messages_out: Counter::default(),
            gama_bytes_out: Counter::default(),
            gama_connections: Counter::default(),
            gama_command_seconds: Family::new_with_constructor(command_seconds_histogram),
            gama_command_errors: Family::default(),
            recording_dropped: Counter::default(),
            session_dropped: Counter::default(),
            takeovers_refused: Counter::default(),
            headsets_refused_network: Counter::default(),
            token_failures: Counter::default(),
            players: Family::default(),
            headset_connections: Gauge::default(),
            queue_bytes: Gauge::default(),
            gama_link: Family::default(),
            gama_experiment: Family::default(),
            registry: Registry::default(),
        }
    }

    /// Records the answer time of a command.
    pub fn command_answered(&self, command: CommandKind, elapsed: Duration) {
        self.gama_command_seconds
            .get_or_create(&CommandLabels {
                command: command.name().to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a failed command.
    pub fn command_failed(&self, command: CommandKind, kind: &str) {
        self.gama_command_errors
            .get_or_create(&ErrorLabels {
                command: command.name().to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Records a headset command that did not reach GAMA.
    pub fn command_dropped(&self, reason: DropReason) {
        self.headset_commands_dropped
            .get_or_create(&DropLabels { reason })
            .inc();
    }

    /// Renders every metric, with the session gauges taken from `session`.
    pub fn render(&self, session: &SessionGauges<'_>) -> String {
        for (state, n) in [
            ("connected", session.connected),
            ("in_game", session.in_game),
            ("waiting", session.waiting),
            ("disconnected", session.disconnected),
        ] {
            self.players
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(n as i64);
        }
        self.headset_connections.set(session.connections as i64);
        self.queue_bytes.set(session.queue_bytes as i64);
        for state in ["connecting", "connected", "retrying", "unreachable"] {
            self.gama_link
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(i64::from(state == session.link));
        }
        for state in ["NONE", "NOTREADY", "PAUSED", "RUNNING", "FINISHED"] {
            self.gama_experiment
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(i64::from(state == session.experiment));
        }
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Registers what headsets send and get, and what the relay held back from them.
fn register_headset_traffic(r: &mut Registry, m: &Metrics) {
    r.register(
        "headset_messages_received",
        "Messages received from headsets",
        m.headset_messages_in.clone(),
    );
    r.register(
        "headset_received_bytes",
        "Bytes received from headsets",
        m.headset_bytes_in.clone(),
    );
    r.register(
        "headset_messages_sent",
        "Messages written to headsets",
        m.headset_messages_out.clone(),
    );
    r.register(
        "headset_sent_bytes",
        "Bytes written to headsets",
        m.headset_bytes_out.clone(),
    );
    r.register(
        "world_updates_coalesced",
        "World updates replaced by a newer one for a headset that fell behind",
        m.world_updates_coalesced.clone(),
    );
    r.register(
        "slow_headsets_disconnected",
        "Headsets disconnected because their outbound queue passed headsets.max_queue_bytes",
        m.slow_headsets_disconnected.clone(),
    );
    r.register(
        "outputs_for_absent_players",
        "Linker output elements addressed to a player that is not connected",
        m.outputs_for_absent_players.clone(),
    );
    r.register(
        "headset_commands_dropped",
        "Headsets' asks and expressions not forwarded to GAMA, by reason",
        m.headset_commands_dropped.clone(),
    );
}

/// Registers what goes to and comes from GAMA, and how its commands fare.
fn register_gama_traffic(r: &mut Registry, m: &Metrics) {
    r.register(
        "gama_messages_received",
        "Messages received from GAMA",
        m.gama_messages_in.clone(),
    );
    r.register(
        "gama_received_bytes",
        "Bytes received from GAMA",
        m.gama_bytes_in.clone(),
    );
    r.register(
        "gama_messages_sent",
        "Commands sent to GAMA",
        m.gama_messages_out.clone(),
    );
    r.register(
        "gama_sent_bytes",
        "Bytes sent to GAMA",
        m.gama_bytes_out.clone(),
    );
    r.register(
        "gama_connections",
        "Connections made to GAMA: the first one and every reconnection",
        m.gama_connections.clone(),
    );
    r.register(
        "gama_command_seconds",
        "Time from sending a command to GAMA to its reply",
        m.gama_command_seconds.clone(),
    );
    r.register(
        "gama_command_errors",
        "Commands GAMA refused or did not answer, by command and kind of error",
        m.gama_command_errors.clone(),
    );
}

/// Registers what the disk could not keep up with, and who was refused.
fn register_losses_and_refusals(r: &mut Registry, m: &Metrics) {
    r.register(
        "recording_messages_dropped",
        "Messages left out of the recording (record.file) because the disk could not keep up",
        m.recording_dropped.clone(),
    );
    r.register(
        "session_messages_dropped",
        "Messages left out of the kept session (sessions.folder_path) because the disk could not keep up",
        m.session_dropped.clone(),
    );
    r.register(
        "takeovers_refused",
        "Connections refused because they claimed the id of a live player from another address",
        m.takeovers_refused.clone(),
    );
    r.register(
        "headsets_refused_network",
        "Headset connections refused: their address is outside headsets.allowed_networks",
        m.headsets_refused_network.clone(),
    );
    r.register(
        "token_failures",
        "Admin API and tool endpoint requests with a wrong or missing token",
        m.token_failures.clone(),
    );
}

/// Registers the gauges read from the session at scrape time.
fn register_session_gauges(r: &mut Registry, m: &Metrics) {
    r.register(
        "players",
        "Players by state: connected, in_game, waiting, disconnected (within grace time)",
        m.players.clone(),
    );
    r.register(
        "headset_connections",
        "Open headset connections",
        m.headset_connections.clone(),
    );
    r.register(
        "headset_queue_bytes",
        "Bytes waiting to be written to headsets, all connections together",
        m.queue_bytes.clone(),
    );
    r.register(
        "gama_link",
        "State of the connection to GAMA (1 for the current state)",
        m.gama_link.clone(),
    );
    r.register(
        "gama_experiment",
        "State of GAMA's experiment (1 for the current state)",
        m.gama_experiment.clone(),
    );
}

/// What the session gauges show at scrape time.
#[derive(Debug, Default)]
pub struct SessionGauges<'a> {
    /// Players with a live connection.
    pub connected: usize,
    /// Players in the game.
    pub in_game: usize,
    /// Players waiting for a slot.
    pub waiting: usize,
    /// Players within their grace time.
    pub disconnected: usize,
    /// Open headset connections.
    pub connections: usize,
    /// Bytes queued for headsets.
    pub queue_bytes: usize,
    /// GAMA link state name.
    pub link: &'a str,
    /// GAMA experiment state name.
    pub experiment: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::new();
        m.headset_messages_in.inc_by(3);
        m.command_answered(CommandKind::Ask, Duration::from_micros(300));
        m.command_failed(CommandKind::Load, "UnableToExecuteRequest");
        m.command_dropped(DropReason::not_live);
        let text = m.render(&SessionGauges {
            connected: 2,
            in_game: 1,
            link: "connected",
            experiment: "RUNNING",
            ..SessionGauges::default()
        });
        for line in [
            "gama_vr_relay_headset_messages_received_total 3",
            r#"gama_vr_relay_players{state="in_game"} 1"#,
            r#"gama_vr_relay_gama_link{state="connected"} 1"#,
            r#"gama_vr_relay_gama_link{state="unreachable"} 0"#,
            r#"gama_vr_relay_gama_experiment{state="RUNNING"} 1"#,
            r#"gama_vr_relay_gama_command_seconds_count{command="ask"} 1"#,
            r#"gama_vr_relay_gama_command_errors_total{command="load",kind="UnableToExecuteRequest"} 1"#,
            r#"gama_vr_relay_headset_commands_dropped_total{reason="not_live"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
