//! The Unity headset protocol (protocol.md §5): what a headset sends and the exact frames it expects.
//!
//! Unity serialises every message from a `Dictionary<string,string>`, so every value arrives as a
//! string (`"heartbeat":"5000"`, `args` as a JSON string holding an object). Parsing accepts those and
//! the obvious alternatives (numbers, an `args` object); output matches the reference middleware's
//! bytes: field order, real JSON booleans, no whitespace.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Frame, frame_from_vec};
use crate::protocol::json;

/// A message from a headset, validated.
#[derive(Debug)]
pub enum Inbound<'a> {
    /// Registration: `{"type":"connection","id":"Player_101","heartbeat":"5000"}`.
    Connection {
        /// The player id the headset claims.
        id: String,
        /// The keep-alive period it announced.
        heartbeat: Heartbeat,
    },
    /// Answer to our `ping`.
    Pong,
    /// A ping from the headset, answered with `pong` echoing `id`.
    Ping {
        /// Echoed back as is.
        id: Option<&'a RawValue>,
    },
    /// A GAML expression to evaluate in the experiment (`$id` is the player).
    Expression {
        /// The expression text.
        expr: String,
    },
    /// An action to run on an agent, forwarded to GAMA with `exp_id` added.
    Ask {
        /// JSON string literal of the action name.
        action: &'a RawValue,
        /// JSON string literal whose value is the arguments object's JSON text.
        args: Cow<'a, str>,
        /// JSON string literal of the target agent, if given.
        agent: Option<&'a RawValue>,
    },
    /// The player leaves for good.
    DisconnectProperly,
    /// A type the protocol does not define.
    Unknown(String),
}

/// The keep-alive period a headset announced in `connection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Milliseconds, if the value was a usable number.
    pub requested_ms: Option<u64>,
    /// Whether it came as a string (then `json_state.ping_interval` is echoed as a string).
    pub as_text: bool,
    /// The value as received, for logs.
    pub raw: Option<String>,
}

/// Why a headset message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    /// Not JSON at all.
    #[error("not valid JSON ({0})")]
    Json(String),
    /// JSON, but not an object with a string `type`.
    #[error("a message must be a JSON object with a string \"type\"")]
    NoType,
    /// A field has the wrong type.
    #[error("\"{field}\" must be {expected}")]
    Field {
        /// Field name.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A mandatory field is missing.
    #[error("\"{0}\" is missing")]
    Missing(&'static str),
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    heartbeat: Option<&'a RawValue>,
    #[serde(default, borrow)]
    expr: Option<&'a RawValue>,
    #[serde(default, borrow)]
    action: Option<&'a RawValue>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
    #[serde(default, borrow)]
    agent: Option<&'a RawValue>,
}

fn is_str(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

fn is_null(raw: Option<&RawValue>) -> bool {
    raw.is_none_or(|r| r.get() == "null")
}

/// A string literal that decodes: JSON's grammar allows escapes of lone UTF-16 surrogates
/// (`"\ud800"`), which are not text. Forwarded verbatim they would reach GAMA as a string that no
/// strict parser reads, so they are refused where a literal is passed on untouched.
fn is_text(raw: &RawValue) -> bool {
    is_str(raw) && (!raw.get().contains('\\') || decode_str(raw).is_some())
}

/// The text of a string literal the relay decodes, or why it has none (a lone surrogate).
fn text_of(raw: &RawValue, field: &'static str) -> Result<String, InboundError> {
    decode_str(raw).ok_or(InboundError::Field {
        field,
        expected: "a string of valid Unicode",
    })
}

fn decode_str(raw: &RawValue) -> Option<String> {
    if is_str(raw) {
        serde_json::from_str(raw.get()).ok()
    } else {
        None
    }
}

/// Parses one text frame from a headset.
pub fn parse(text: &str) -> Result<Inbound<'_>, InboundError> {
    let fields = read_fields(text)?;
    let kind = fields
        .kind
        .and_then(decode_str)
        .ok_or(InboundError::NoType)?;
    Ok(match kind.as_str() {
        "connection" => Inbound::Connection {
            id: player_id(fields.id)?,
            heartbeat: parse_heartbeat(fields.heartbeat),
        },
        "pong" => Inbound::Pong,
        "ping" => Inbound::Ping {
            id: fields.id.filter(|r| r.get() != "null"),
        },
        "expression" => Inbound::Expression {
            expr: expression(fields.expr)?,
        },
        "ask" => Inbound::Ask {
            action: ask_action(fields.action)?,
            args: ask_args(fields.args)?,
            agent: ask_agent(fields.agent)?,
        },
        "disconnect_properly" => Inbound::DisconnectProperly,
        _ => Inbound::Unknown(kind),
    })
}

/// The fields of a message, borrowed from `text`: one parse, nothing copied.
fn read_fields(text: &str) -> Result<Fields<'_>, InboundError> {
    // serde would also read a struct from an array, by position: only objects are messages.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(InboundError::NoType),
            Err(e) => Err(InboundError::Json(e.to_string())),
        };
    }
    match serde_json::from_str(text) {
        Ok(f) => Ok(f),
        Err(e) if e.is_data() => Err(InboundError::NoType),
        Err(e) => Err(InboundError::Json(e.to_string())),
    }
}

/// `connection`'s `id`: a string, or leniently a number's text.
fn player_id(raw: Option<&RawValue>) -> Result<String, InboundError> {
    match raw {
        Some(raw) if is_str(raw) => text_of(raw, "id"),
        // Lenient: a numeric id is its text.
        Some(raw) if raw.get().starts_with(|c: char| c.is_ascii_digit()) => {
            Ok(raw.get().to_string())
        }
        Some(raw) if raw.get() != "null" => Err(InboundError::Field {
            field: "id",
            expected: "a string",
        }),
        _ => Err(InboundError::Missing("id")),
    }
}

/// `expression`'s `expr`: a string.
fn expression(raw: Option<&RawValue>) -> Result<String, InboundError> {
    match raw {
        Some(raw) if is_str(raw) => text_of(raw, "expr"),
        Some(raw) if raw.get() != "null" => Err(InboundError::Field {
            field: "expr",
            expected: "a string",
        }),
        _ => Err(InboundError::Missing("expr")),
    }
}

/// `ask`'s `action`: a string literal, kept as it came.
fn ask_action(raw: Option<&RawValue>) -> Result<&RawValue, InboundError> {
    match raw {
        Some(raw) if is_text(raw) => Ok(raw),
        Some(raw) if raw.get() != "null" => Err(InboundError::Field {
            field: "action",
            expected: "a string",
        }),
        _ => Err(InboundError::Missing("action")),
    }
}

/// `ask`'s `args`, as the JSON string literal GAMA wants: `"{}"` when there are none.
fn ask_args(raw: Option<&RawValue>) -> Result<Cow<'_, str>, InboundError> {
    Ok(match raw {
        // What Unity sends: a JSON string holding the arguments object. Kept verbatim.
        Some(raw) if is_text(raw) => Cow::Borrowed(raw.get()),
        // An object from other clients: GAMA wants it as a string.
        Some(raw) if raw.get().starts_with('{') => Cow::Owned(json::quote(raw.get())),
        r if is_null(r) => Cow::Borrowed("\"{}\""),
        Some(_) => {
            return Err(InboundError::Field {
                field: "args",
                expected: "a JSON object, or a string holding one",
            });
        }
        None => Cow::Borrowed("\"{}\""),
    })
}

/// `ask`'s `agent`: a string literal, kept as it came, if there is one.
fn ask_agent(raw: Option<&RawValue>) -> Result<Option<&RawValue>, InboundError> {
    match raw {
        Some(raw) if is_text(raw) => Ok(Some(raw)),
        r if is_null(r) => Ok(None),
        Some(_) => Err(InboundError::Field {
            field: "agent",
            expected: "a string",
        }),
        None => Ok(None),
    }
}

fn parse_heartbeat(raw: Option<&RawValue>) -> Heartbeat {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Heartbeat {
            requested_ms: None,
            as_text: false,
            raw: None,
        };
    };
    let text = raw.get();
    if is_str(raw) {
        let value = decode_str(raw).unwrap_or_default();
        Heartbeat {
            requested_ms: parse_ms(value.trim()),
            as_text: true,
            raw: Some(value),
        }
    } else {
        Heartbeat {
            requested_ms: parse_ms(text),
            as_text: false,
            raw: Some(text.to_string()),
        }
    }
}

/// Milliseconds from `5000`, `"5000"` or `5000.0`; `None` for anything else.
fn parse_ms(text: &str) -> Option<u64> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let f = text.parse::<f64>().ok()?;
    (f.is_finite() && f >= 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}

/// `json_state`, field for field as the reference middleware sent it (protocol.md §5.3).
#[derive(Debug, Serialize)]
pub struct JsonState<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id_player: &'a str,
    id: &'a str,
    ping_interval: PingInterval,
    is_alive: bool,
    connected: bool,
    in_game: bool,
    date_connection: &'a str,
}

/// `ping_interval` echoes the announced heartbeat's JSON type: a string for the real Unity client.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PingInterval {
    /// `"5000"`.
    Text(String),
    /// `5000`.
    Number(u64),
}

impl<'a> JsonState<'a> {
    /// The state message of one player.
    pub fn new(
        id: &'a str,
        heartbeat_ms: u64,
        heartbeat_as_text: bool,
        in_game: bool,
        date_connection: &'a str,
    ) -> Self {
        JsonState {
            kind: "json_state",
            id_player: id,
            id,
            ping_interval: if heartbeat_as_text {
                PingInterval::Text(heartbeat_ms.to_string())
            } else {
                PingInterval::Number(heartbeat_ms)
            },
            is_alive: true,
            connected: true,
            in_game,
            date_connection,
        }
    }

    /// Serialised frame.
    pub fn to_frame(&self) -> Frame {
        frame_from_vec(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// `{"type":"ping"}`, sent every heartbeat.
pub fn ping_frame() -> Frame {
    Frame::from_static("{\"type\":\"ping\"}")
}

/// `{"type":"pong","id":…}` answering a headset's ping (`id` left out when the ping had none).
pub fn pong_frame(id: Option<&RawValue>) -> Frame {
    match id {
        Some(id) => Frame::from(format!("{{\"type\":\"pong\",\"id\":{}}}", id.get())),
        None => Frame::from_static("{\"type\":\"pong\"}"),
    }
}

/// `{"type":"error","message":…}`: Unity ignores types it does not know, other clients can log it.
pub fn error_frame(message: &str) -> Frame {
    let mut out = Vec::with_capacity(message.len() + 32);
    out.extend_from_slice(b"{\"type\":\"error\",\"message\":");
    json::write_str(&mut out, message);
    out.push(b'}');
    frame_from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unity_connection_message() {
        match parse(r#"{"type":"connection","id":"Player_101","heartbeat":"5000"}"#).unwrap() {
            Inbound::Connection { id, heartbeat } => {
                assert_eq!(id, "Player_101");
                assert_eq!(heartbeat.requested_ms, Some(5000));
                assert!(heartbeat.as_text);
            }
            other => panic!("{other:?}"),
        }
        match parse(r#"{"type":"connection","id":"P","heartbeat":4000}"#).unwrap() {
            Inbound::Connection { heartbeat, .. } => {
                assert_eq!(heartbeat.requested_ms, Some(4000));
                assert!(!heartbeat.as_text);
            }
            other => panic!("{other:?}"),
        }
        match parse(r#"{"type":"connection","id":"P","heartbeat":"soon"}"#).unwrap() {
            Inbound::Connection { heartbeat, .. } => assert_eq!(heartbeat.requested_ms, None),
            other => panic!("{other:?}"),
        }
        match parse(r#"{"type":"connection","id":"P"}"#).unwrap() {
            Inbound::Connection { heartbeat, .. } => assert_eq!(heartbeat.raw, None),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"type":"connection"}"#).unwrap_err(),
            InboundError::Missing("id")
        );
        assert!(matches!(
            parse(r#"{"type":"connection","id":{"a":1}}"#).unwrap_err(),
            InboundError::Field { field: "id", .. }
        ));
    }

    /// An `ask` as the Unity client sends it: `args` a JSON string holding the arguments object.
    const UNITY_ASK: &str = r#"{"type":"ask","action":"move_player_external","args":"{\"id\":\"Player_101\",\"x\":\"251234\"}","agent":"simulation[0].unity_linker[0]"}"#;
    /// Its `args`, as they are in the message.
    const UNITY_ASK_ARGS: &str = r#""{\"id\":\"Player_101\",\"x\":\"251234\"}""#;

    #[test]
    fn unity_ask_keeps_args_verbatim() {
        match parse(UNITY_ASK).unwrap() {
            Inbound::Ask {
                action,
                args,
                agent,
            } => {
                assert_eq!(action.get(), "\"move_player_external\"");
                assert_eq!(args, UNITY_ASK_ARGS);
                assert_eq!(agent.unwrap().get(), "\"simulation[0].unity_linker[0]\"");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lone_surrogates_are_refused() {
        // Lone surrogates are JSON's grammar but not text: never forwarded verbatim.
        for text in [
            r#"{"type":"ask","action":"a","args":"\ud800"}"#,
            r#"{"type":"ask","action":"\udfff","args":"{}"}"#,
            r#"{"type":"ask","action":"a","agent":"x\ud800"}"#,
            r#"{"type":"expression","expr":"\ud800"}"#,
            r#"{"type":"connection","id":"P\ud800"}"#,
        ] {
            assert!(
                matches!(parse(text), Err(InboundError::Field { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn ask_args_as_an_object_become_a_string() {
        match parse(r#"{"type":"ask","action":"a","args":{"id":"P1"}}"#).unwrap() {
            Inbound::Ask { args, agent, .. } => {
                // The object's text, as a JSON string.
                assert_eq!(args, serde_json::to_string(r#"{"id":"P1"}"#).unwrap());
                assert!(agent.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_asks() {
        assert!(matches!(
            parse(r#"{"type":"ask","action":"a","args":[1]}"#).unwrap_err(),
            InboundError::Field { field: "args", .. }
        ));
        assert_eq!(
            parse(r#"{"type":"ask","args":"{}"}"#).unwrap_err(),
            InboundError::Missing("action")
        );
    }

    #[test]
    fn bad_frames() {
        assert!(matches!(parse("{nope").unwrap_err(), InboundError::Json(_)));
        assert_eq!(parse("[1,2]").unwrap_err(), InboundError::NoType);
        assert_eq!(
            parse(r#"["connection","Player_9","5000"]"#).unwrap_err(),
            InboundError::NoType
        );
        assert_eq!(parse(r#""connection""#).unwrap_err(), InboundError::NoType);
        assert_eq!(parse(r#"{"id":"x"}"#).unwrap_err(), InboundError::NoType);
        assert_eq!(parse(r#"{"type":5}"#).unwrap_err(), InboundError::NoType);
        assert!(
            matches!(parse(r#"{"type":"dance"}"#).unwrap(), Inbound::Unknown(t) if t == "dance")
        );
        assert!(matches!(
            parse(r#"{"type":"expression","expr":3}"#).unwrap_err(),
            InboundError::Field { field: "expr", .. }
        ));
    }

    #[test]
    fn outbound_frames_are_exact() {
        let state = JsonState::new("Player_101", 5000, true, false, "14:05").to_frame();
        assert_eq!(
            state.as_str(),
            r#"{"type":"json_state","id_player":"Player_101","id":"Player_101","ping_interval":"5000","is_alive":true,"connected":true,"in_game":false,"date_connection":"14:05"}"#
        );
        let state = JsonState::new("P", 5000, false, true, "09:00").to_frame();
        assert!(
            state.as_str().contains(
                r#""ping_interval":5000,"is_alive":true,"connected":true,"in_game":true"#
            )
        );
        assert_eq!(ping_frame().as_str(), r#"{"type":"ping"}"#);
        let id = RawValue::from_string("\"P1\"".into()).unwrap();
        assert_eq!(
            pong_frame(Some(&id)).as_str(),
            r#"{"type":"pong","id":"P1"}"#
        );
        assert_eq!(pong_frame(None).as_str(), r#"{"type":"pong"}"#);
        assert_eq!(
            error_frame("bad \"x\"").as_str(),
            r#"{"type":"error","message":"bad \"x\""}"#
        );
    }
}
