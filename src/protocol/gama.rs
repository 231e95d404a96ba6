//! The envelope of every message gama-server sends (`type`, `content`, `exp_id`, the echoed
//! `command`) and its message types. Parsing borrows from the received text and keeps opaque parts
//! as [`RawValue`]; what `SimulationOutput` carries is [`super::linker`]'s to read.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::support::excerpt::truncate;

/// Every message from gama-server: `{"type":…,"content":…,"exp_id"?:…,"command"?:…}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// Message type name.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Any JSON; absent or `null` is `None`.
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
    /// Experiment id on status and output messages (a string; tolerated as a number).
    #[serde(default, borrow)]
    pub exp_id: Option<&'a RawValue>,
    /// The request echoed by replies to commands.
    #[serde(default, borrow)]
    pub command: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parses one frame from gama-server.
    pub fn parse(text: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// The message type, classified.
    pub fn message_type(&self) -> MessageType {
        MessageType::from_name(&self.kind)
    }

    /// `exp_id` as text, whether GAMA sent a string or a number.
    pub fn exp_id(&self) -> Option<String> {
        self.exp_id.and_then(raw_to_text)
    }

    /// `content` as text when it is a JSON string.
    pub fn content_str(&self) -> Option<Cow<'a, str>> {
        let raw = self.content?;
        if raw.get().starts_with('"') {
            serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
        } else {
            None
        }
    }

    /// The human-readable part of `content`: the string itself, an object's `message`, or compact JSON.
    pub fn content_message(&self) -> String {
        self.content.map(plain_message).unwrap_or_default()
    }

    /// The correlation id the relay put in the request this message answers, if any.
    pub fn correlation(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Echo<'b> {
            #[serde(default, borrow)]
            relay_seq: Option<Cow<'b, str>>,
        }
        let echo: Echo<'_> = serde_json::from_str(self.command?.get()).ok()?;
        echo.relay_seq?.parse().ok()
    }

    /// `frame`, the text this envelope was read from, with the echoed `command` replaced by
    /// `command`: a tool gets back exactly what it sent, without the relay's correlation field.
    /// `None` if this message echoes no command.
    pub fn with_command(&self, frame: &str, command: &str) -> Option<String> {
        let echoed = self.command?.get();
        let start = (echoed.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
        let end = start + echoed.len();
        if frame.get(start..end) != Some(echoed) {
            return None;
        }
        Some([&frame[..start], command, &frame[end..]].concat())
    }

    /// The `type` of the request this message answers, if any.
    pub fn command_type(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Echo<'b> {
            #[serde(rename = "type", default, borrow)]
            kind: Option<Cow<'b, str>>,
        }
        let echo: Echo<'_> = serde_json::from_str(self.command?.get()).ok()?;
        echo.kind.map(Cow::into_owned)
    }
}

/// Text of a JSON string or number.
fn raw_to_text(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_string())
    } else {
        None
    }
}

/// The readable message inside a GAMA error or status `content`.
pub fn plain_message(raw: &RawValue) -> String {
    #[derive(Deserialize)]
    struct WithMessage {
        #[serde(default)]
        message: Option<serde_json::Value>,
        #[serde(default)]
        exception: Option<serde_json::Value>,
    }
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).unwrap_or_default();
        // Status-bar messages are JSON inside a string: {"message": "..."}.
        if s.starts_with('{') {
            if let Ok(inner) = serde_json::from_str::<Box<RawValue>>(&s) {
                let m = plain_message(&inner);
                if !m.is_empty() {
                    return m;
                }
            }
        }
        return s;
    }
    if text.starts_with('{') {
        if let Ok(obj) = serde_json::from_str::<WithMessage>(text) {
            let pick = |v: Option<serde_json::Value>| match v {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
                _ => None,
            };
            if let Some(m) = pick(obj.message).or_else(|| pick(obj.exception)) {
                return m;
            }
        }
    }
    truncate(text, 300)
}

/// The message types of gama-server (GAMA `MessageType.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// First frame after the handshake.
    ConnectionSuccessful,
    /// Experiment state change.
    SimulationStatus,
    /// Status-bar text (headless with `status:true`).
    SimulationStatusInform,
    /// Status-bar error text.
    SimulationStatusError,
    /// Status-bar neutral text.
    SimulationStatusNeutral,
    /// Linker output or console `write`.
    SimulationOutput,
    /// `debug` statement.
    SimulationDebug,
    /// Dialog text.
    SimulationDialog,
    /// Error dialog text.
    SimulationErrorDialog,
    /// Runtime error in the simulation.
    SimulationError,
    /// Error while stepping.
    RuntimeError,
    /// Unexpected server exception.
    GamaServerError,
    /// Unparsable request or missing field.
    MalformedRequest,
    /// Valid request that could not run.
    UnableToExecuteRequest,
    /// Command succeeded.
    CommandExecutedSuccessfully,
    /// `until` condition reached (headless).
    SimulationEnded,
    /// Anything else.
    Unknown,
}

impl MessageType {
    /// Classifies a `type` name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "ConnectionSuccessful" => Self::ConnectionSuccessful,
            "SimulationStatus" => Self::SimulationStatus,
            "SimulationStatusInform" => Self::SimulationStatusInform,
            "SimulationStatusError" => Self::SimulationStatusError,
            "SimulationStatusNeutral" => Self::SimulationStatusNeutral,
            "SimulationOutput" => Self::SimulationOutput,
            "SimulationDebug" => Self::SimulationDebug,
            "SimulationDialog" => Self::SimulationDialog,
            "SimulationErrorDialog" => Self::SimulationErrorDialog,
            "SimulationError" => Self::SimulationError,
            "RuntimeError" => Self::RuntimeError,
            "GamaServerError" => Self::GamaServerError,
            "MalformedRequest" => Self::MalformedRequest,
            "UnableToExecuteRequest" => Self::UnableToExecuteRequest,
            "CommandExecutedSuccessfully" => Self::CommandExecutedSuccessfully,
            "SimulationEnded" => Self::SimulationEnded,
            _ => Self::Unknown,
        }
    }

    /// Whether a message of this type answering a command means the command failed.
    pub fn is_command_failure(self) -> bool {
        matches!(
            self,
            Self::UnableToExecuteRequest | Self::MalformedRequest | Self::GamaServerError
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn envelope_fields() {
        let e = Envelope::parse(
            r#"{"type":"CommandExecutedSuccessfully","content":"vr_xp","command":{"type":"load","model":"/m.gaml","relay_seq":"12"}}"#,
        )
        .unwrap();
        assert_eq!(e.message_type(), MessageType::CommandExecutedSuccessfully);
        assert_eq!(e.correlation(), Some(12));
        assert_eq!(e.command_type().as_deref(), Some("load"));
        assert_eq!(e.content_str().as_deref(), Some("vr_xp"));
        let s = Envelope::parse(r#"{"type":"SimulationStatus","content":"PAUSED","exp_id":0}"#)
            .unwrap();
        assert_eq!(s.exp_id().as_deref(), Some("0"));
        assert_eq!(s.correlation(), None);
    }

    #[test]
    fn a_reply_gets_back_the_command_as_the_tool_wrote_it() {
        let frame = r#"{"type":"CommandExecutedSuccessfully","content":"","command":{"relay_seq":"3","type":"play","api_id":"1"},"x":1}"#;
        let e = Envelope::parse(frame).unwrap();
        assert_eq!(
            e.with_command(frame, r#"{"type":"play", "api_id":"1"}"#)
                .unwrap(),
            r#"{"type":"CommandExecutedSuccessfully","content":"","command":{"type":"play", "api_id":"1"},"x":1}"#
        );
        let status = r#"{"type":"SimulationStatus","content":"PAUSED"}"#;
        assert_eq!(
            Envelope::parse(status).unwrap().with_command(status, "{}"),
            None
        );
    }

    #[test]
    fn plain_messages() {
        assert_eq!(plain_message(&raw("\"file missing\"")), "file missing");
        assert_eq!(
            plain_message(&raw(
                r#"{"exception":"java.lang.NullPointerException","message":"boom","stack":[]}"#
            )),
            "boom"
        );
        assert_eq!(
            plain_message(&raw(r#""{\"message\": \"Experiment ready\"}""#)),
            "Experiment ready"
        );
    }
}
