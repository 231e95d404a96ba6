//! The commands the relay sends to gama-server (protocol.md §3.2), serialised once with the exact
//! key order GAMA's own clients use, and the correlation field GAMA echoes back.

use std::fmt;

use serde_json::value::RawValue;

use crate::protocol::json;

/// The kind of a command, for logs, errors and state updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `load`.
    Load,
    /// `play`.
    Play,
    /// `pause`.
    Pause,
    /// `stop`.
    Stop,
    /// `expression`.
    Expression,
    /// `ask`.
    Ask,
    /// A command of a tool connected through the relay's gama-server endpoint.
    Client,
}

impl CommandKind {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Play => "play",
            Self::Pause => "pause",
            Self::Stop => "stop",
            Self::Expression => "expression",
            Self::Ask => "ask",
            Self::Client => "client",
        }
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A command for gama-server, serialised except for the closing brace: the link appends the
/// correlation field the server will echo back (`"relay_seq":"17"`).
#[derive(Debug, Clone)]
pub struct Command {
    /// What it is.
    pub kind: CommandKind,
    body: Vec<u8>,
}

impl Command {
    fn start(kind: CommandKind, exp_id: Option<&str>) -> Self {
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(b"{\"type\":\"");
        body.extend_from_slice(kind.name().as_bytes());
        body.push(b'"');
        let mut cmd = Command { kind, body };
        if let Some(id) = exp_id {
            cmd.field_str("exp_id", id);
        }
        cmd
    }

    fn field_str(&mut self, name: &str, value: &str) {
        self.body.extend_from_slice(b",\"");
        self.body.extend_from_slice(name.as_bytes());
        self.body.extend_from_slice(b"\":");
        json::write_str(&mut self.body, value);
    }

    fn field_raw(&mut self, name: &str, raw: &str) {
        self.body.extend_from_slice(b",\"");
        self.body.extend_from_slice(name.as_bytes());
        self.body.extend_from_slice(b"\":");
        self.body.extend_from_slice(raw.as_bytes());
    }

    /// `load` of an experiment, with its parameters when the learning package gives some.
    pub fn load(model: &str, experiment: &str, parameters: Option<&RawValue>) -> Self {
        let mut c = Self::start(CommandKind::Load, None);
        c.field_str("model", model);
        c.field_str("experiment", experiment);
        if let Some(p) = parameters {
            c.field_raw("parameters", p.get());
        }
        c
    }

    /// `play`.
    pub fn play(exp_id: &str) -> Self {
        Self::start(CommandKind::Play, Some(exp_id))
    }

    /// `pause`.
    pub fn pause(exp_id: &str) -> Self {
        Self::start(CommandKind::Pause, Some(exp_id))
    }

    /// `stop`.
    pub fn stop(exp_id: &str) -> Self {
        Self::start(CommandKind::Stop, Some(exp_id))
    }

    /// `expression`; without `exp_id` it probes which server mode answers (protocol.md §3.3).
    pub fn expression(exp_id: Option<&str>, expr: &str) -> Self {
        let mut c = Self::start(CommandKind::Expression, exp_id);
        c.field_str("expr", expr);
        c
    }

    /// `ask`, with `action`, `args` (a JSON string holding an object) and `agent` as raw JSON
    /// string literals taken from the headset's message unchanged.
    pub fn ask(exp_id: &str, action: &RawValue, args: &str, agent: Option<&RawValue>) -> Self {
        let mut c = Self::start(CommandKind::Ask, Some(exp_id));
        c.field_raw("action", action.get());
        c.field_raw("args", args);
        if let Some(agent) = agent {
            c.field_raw("agent", agent.get());
        }
        c
    }

    /// A tool's own command, forwarded as it wrote it (plus the correlation field). `None` if the
    /// text is not a JSON object.
    pub fn client(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        if !trimmed.starts_with('{')
            || serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_err()
        {
            return None;
        }
        let inner = trimmed.strip_suffix('}')?;
        let mut body = inner.as_bytes().to_vec();
        // `{}` has no member to put a comma after.
        if inner[1..].trim().is_empty() {
            body.truncate(1);
            body.extend_from_slice(b"\"client\":true");
        }
        Some(Command {
            kind: CommandKind::Client,
            body,
        })
    }

    /// The final frame text with the correlation id.
    pub fn finish(&self, seq: u64) -> String {
        let mut out = Vec::with_capacity(self.body.len() + 32);
        out.extend_from_slice(&self.body);
        out.extend_from_slice(b",\"relay_seq\":\"");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b"\"}");
        // Built from valid UTF-8 pieces only.
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn client_commands_are_forwarded_as_written() {
        assert_eq!(
            Command::client(r#" {"type":"play","exp_id":"3","api_id":"7","my":{"x":[1]}} "#)
                .unwrap()
                .finish(5),
            r#"{"type":"play","exp_id":"3","api_id":"7","my":{"x":[1]},"relay_seq":"5"}"#
        );
        assert_eq!(
            Command::client("{ }").unwrap().finish(1),
            r#"{"client":true,"relay_seq":"1"}"#
        );
        assert!(Command::client("[1]").is_none());
        assert!(Command::client("{\"a\":").is_none());
        assert!(Command::client("{} {}").is_none());
    }

    #[test]
    fn commands_are_exact() {
        assert_eq!(
            Command::load("/lp/m.gaml", "vr_xp", None).finish(3),
            r#"{"type":"load","model":"/lp/m.gaml","experiment":"vr_xp","relay_seq":"3"}"#
        );
        assert_eq!(
            Command::expression(Some("0"), "do create_player(\"P\\\"1\");").finish(4),
            r#"{"type":"expression","exp_id":"0","expr":"do create_player(\"P\\\"1\");","relay_seq":"4"}"#
        );
        assert_eq!(
            Command::expression(None, "cycle").finish(0),
            r#"{"type":"expression","expr":"cycle","relay_seq":"0"}"#
        );
        let action = raw("\"move_player_external\"");
        let agent = raw("\"simulation[0].unity_linker[0]\"");
        assert_eq!(
            Command::ask(
                "0",
                &action,
                r#""{\"id\":\"P1\",\"x\":\"1\"}""#,
                Some(&agent)
            )
            .finish(9),
            r#"{"type":"ask","exp_id":"0","action":"move_player_external","args":"{\"id\":\"P1\",\"x\":\"1\"}","agent":"simulation[0].unity_linker[0]","relay_seq":"9"}"#
        );
    }
}
