//! What types alone cannot check: ranges, formats and relations between settings.
//!
//! The checks run in a fixed order and the first failure is reported, naming the setting and where
//! its value came from. Most are tables (settings that must not be 0, pairs that must not cross),
//! so a new setting usually needs one line here.

use std::net::IpAddr;

use figment::Figment;

use super::error::{ConfigError, origin_hint};
use super::settings::{
    Config, GamaConfig, HeadsetConfig, LogConfig, MONITOR_MAX_SILENCE_MS, MirrorConfig,
    parse_network,
};

/// The outcome of one group of checks: the first setting that fails, and why.
type Checked = Result<(), (String, String)>;

/// Fails the check of `key` with `message`.
fn fail(key: &str, message: String) -> Checked {
    Err((key.to_string(), message))
}

impl Config {
    /// Checks what types alone cannot: ranges and relations between settings.
    pub(super) fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        self.check_all()
            .map_err(|(key, message)| ConfigError::Invalid {
                source_hint: figment
                    .find_metadata(&key)
                    .map(origin_hint)
                    .unwrap_or_default(),
                key,
                message,
            })
    }

    /// Every group of checks, in the order their failures are reported.
    fn check_all(&self) -> Checked {
        check_gama_address(&self.gama)?;
        self.check_durations()?;
        self.check_counts()?;
        self.check_sessions()?;
        check_networks(&self.headsets)?;
        check_mirror(&self.mirror)?;
        check_ranges(&self.gama, &self.headsets)?;
        self.check_monitor_refresh()?;
        check_missed_heartbeats(&self.headsets)?;
        self.check_listen_hosts()?;
        check_log(&self.log)
    }

    /// Durations where 0 would mean never waiting.
    fn check_durations(&self) -> Checked {
        let (g, h) = (&self.gama, &self.headsets);
        for (key, value) in [
            ("gama.connect_timeout_ms", g.connect_timeout_ms),
            ("gama.reconnect_initial_ms", g.reconnect_initial_ms),
            ("gama.command_timeout_ms", g.command_timeout_ms),
            ("gama.load_timeout_ms", g.load_timeout_ms),
            ("gama.late_answer_ms", g.late_answer_ms),
            ("headsets.handshake_timeout_ms", h.handshake_timeout_ms),
            ("headsets.register_timeout_ms", h.register_timeout_ms),
            ("headsets.write_timeout_ms", h.write_timeout_ms),
            ("headsets.min_heartbeat_ms", h.min_heartbeat_ms),
            ("admin.push_refresh_ms", self.admin.push_refresh_ms),
            ("passthrough.load_ready_ms", self.passthrough.load_ready_ms),
            ("monitor.refresh_ms", self.monitor.refresh_ms),
            ("mirror.idle_stop_ms", self.mirror.idle_stop_ms),
            ("mirror.step_timeout_ms", self.mirror.step_timeout_ms),
        ] {
            if value == 0 {
                return fail(
                    key,
                    "0 would never wait: give a duration in milliseconds".into(),
                );
            }
        }
        Ok(())
    }

    /// Sizes, counts and rates that must be at least 1.
    fn check_counts(&self) -> Checked {
        let (g, h) = (&self.gama, &self.headsets);
        for (key, value) in [
            ("gama.max_message_bytes", g.max_message_bytes),
            ("gama.max_in_flight", g.max_in_flight),
            ("headsets.max_connections", h.max_connections),
            ("headsets.max_players", h.max_players),
            (
                "headsets.max_new_connections_per_second",
                h.max_new_connections_per_second as usize,
            ),
            (
                "headsets.max_messages_per_second",
                h.max_messages_per_second as usize,
            ),
            ("headsets.max_message_bytes", h.max_message_bytes),
            ("headsets.max_queue_bytes", h.max_queue_bytes),
            ("headsets.max_player_id_bytes", h.max_player_id_bytes),
            ("admin.max_body_bytes", self.admin.max_body_bytes),
            ("monitor.max_connections", self.monitor.max_connections),
            ("monitor.max_message_bytes", self.monitor.max_message_bytes),
            ("mirror.max_size", self.mirror.max_size as usize),
            ("mirror.bit_rate", self.mirror.bit_rate as usize),
            ("mirror.max_fps", self.mirror.max_fps as usize),
            (
                "mirror.key_frame_interval_s",
                self.mirror.key_frame_interval_s as usize,
            ),
            ("mirror.viewer_queue_bytes", self.mirror.viewer_queue_bytes),
            (
                "record.max_queued_messages",
                self.record.max_queued_messages,
            ),
            (
                "sessions.max_queued_messages",
                self.sessions.max_queued_messages,
            ),
        ] {
            if value == 0 {
                return fail(key, "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The kept sessions' rate of world updates.
    fn check_sessions(&self) -> Checked {
        let rate = self.sessions.world_updates_per_second;
        if !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
            return fail(
                "sessions.world_updates_per_second",
                format!("{rate} is not a rate between 0 and 1000 per second"),
            );
        }
        Ok(())
    }

    /// The Unity editor tool's patience with a silent monitor socket.
    fn check_monitor_refresh(&self) -> Checked {
        if self.monitor.refresh_ms > MONITOR_MAX_SILENCE_MS {
            return fail(
                "monitor.refresh_ms",
                format!(
                    "{} is too long: the Unity editor tool drops a monitor connection silent for 2 s (at most {MONITOR_MAX_SILENCE_MS})",
                    self.monitor.refresh_ms
                ),
            );
        }
        Ok(())
    }

    /// Every address the relay listens on.
    fn check_listen_hosts(&self) -> Checked {
        for (key, host) in [
            ("headsets.host", &self.headsets.host),
            ("admin.host", &self.admin.host),
            ("passthrough.host", &self.passthrough.host),
            ("monitor.host", &self.monitor.host),
        ] {
            if host.parse::<IpAddr>().is_err() && host != "localhost" {
                return fail(
                    key,
                    format!(
                        "`{host}` is not an IP address to listen on (e.g. 0.0.0.0, 127.0.0.1, ::)"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Where gama-server is.
fn check_gama_address(g: &GamaConfig) -> Checked {
    if g.host.trim().is_empty() {
        return fail("gama.host", "must not be empty".into());
    }
    if g.port == 0 {
        return fail("gama.port", "0 is not a port GAMA can listen on".into());
    }
    Ok(())
}

/// The networks headsets may connect from.
fn check_networks(h: &HeadsetConfig) -> Checked {
    for network in &h.allowed_networks {
        if let Err(why) = parse_network(network) {
            return fail("headsets.allowed_networks", why);
        }
    }
    Ok(())
}

/// The ADB server, scrcpy's version, the headsets to reach over Wi-Fi and each model's view.
fn check_mirror(mirror: &MirrorConfig) -> Checked {
    let adb = &mirror.adb_server;
    if adb
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return fail(
            "mirror.adb_server",
            format!("`{adb}` is not host:port (127.0.0.1:5037)"),
        );
    }
    let version = &mirror.scrcpy_version;
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return fail(
            "mirror.scrcpy_version",
            format!("`{version}` is not a version (3.3.4, 4.1)"),
        );
    }
    for headset in &mirror.headsets {
        if crate::headsets::screens::wireless_address(headset).is_none() {
            return fail(
                "mirror.headsets",
                format!("`{headset}` is not an IP address, or address:port"),
            );
        }
    }
    for (model, view) in &mirror.models {
        if !view.crop.is_empty() && view.crop_numbers().is_none() {
            return fail(
                &format!("mirror.models.{model}.crop"),
                format!("`{}` is not width:height:x:y", view.crop),
            );
        }
        if !(view.angle.is_finite() && view.angle.abs() <= 360.0) {
            return fail(
                &format!("mirror.models.{model}.angle"),
                format!("{} is not an angle in degrees", view.angle),
            );
        }
    }
    Ok(())
}

/// Settings that must not fall below another one, and the default keep-alive within its range.
fn check_ranges(g: &GamaConfig, h: &HeadsetConfig) -> Checked {
    for (key, value, floor_key, floor) in [
        (
            "gama.late_answer_ms",
            g.late_answer_ms,
            "gama.command_timeout_ms",
            g.command_timeout_ms,
        ),
        (
            "gama.reconnect_max_ms",
            g.reconnect_max_ms,
            "gama.reconnect_initial_ms",
            g.reconnect_initial_ms,
        ),
        (
            "headsets.max_heartbeat_ms",
            h.max_heartbeat_ms,
            "headsets.min_heartbeat_ms",
            h.min_heartbeat_ms,
        ),
    ] {
        if value < floor {
            return fail(key, format!("{value} is below {floor_key} ({floor})"));
        }
    }
    if !(h.min_heartbeat_ms..=h.max_heartbeat_ms).contains(&h.default_heartbeat_ms) {
        return fail(
            "headsets.default_heartbeat_ms",
            format!(
                "{} is outside [headsets.min_heartbeat_ms, headsets.max_heartbeat_ms] = [{}, {}]",
                h.default_heartbeat_ms, h.min_heartbeat_ms, h.max_heartbeat_ms
            ),
        );
    }
    Ok(())
}

/// How many silent keep-alive periods declare a headset gone.
fn check_missed_heartbeats(h: &HeadsetConfig) -> Checked {
    if h.missed_heartbeats == 0 {
        return fail(
            "headsets.missed_heartbeats",
            "must be at least 1 (a headset is declared gone after that many silent periods)".into(),
        );
    }
    Ok(())
}

/// The log's format, file size and level.
fn check_log(log: &LogConfig) -> Checked {
    if !matches!(log.format.as_str(), "text" | "json") {
        return fail(
            "log.format",
            format!("`{}` is not one of text, json", log.format),
        );
    }
    if log.file_max_bytes == 0 {
        return fail("log.file_max_bytes", "must be at least 1".into());
    }
    if !matches!(
        log.level.to_ascii_lowercase().as_str(),
        "error" | "warn" | "info" | "debug" | "trace"
    ) {
        return fail(
            "log.level",
            format!(
                "`{}` is not one of error, warn, info, debug, trace",
                log.level
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Sources;
    use crate::config::testing::{env, load_error};

    #[test]
    fn relations_between_settings_are_checked() {
        let err = load_error(Sources {
            env: env(&[
                ("GAMA_VR_RELAY_HEADSETS__MIN_HEARTBEAT_MS", "9000"),
                ("GAMA_VR_RELAY_HEADSETS__MAX_HEARTBEAT_MS", "2000"),
            ]),
            ..Sources::default()
        });
        assert!(
            err.contains("headsets.max_heartbeat_ms") && err.contains("2000"),
            "{err}"
        );

        let err = load_error(Sources {
            cli: vec![("headsets.host".into(), "not-an-ip".into(), "--set".into())],
            ..Sources::default()
        });
        assert!(
            err.contains("headsets.host") && err.contains("not-an-ip"),
            "{err}"
        );
        assert!(err.contains("--set"), "{err}");
    }
}
