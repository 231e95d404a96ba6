//! gama-server's wire format (protocol.md §3, §4.4): the envelope of every message it sends, the
//! linker output carried by `SimulationOutput`, and the commands the relay sends.
//!
//! Parsing borrows from the received text and keeps opaque parts as [`RawValue`]; the linker's
//! payloads are re-serialised for headsets during the same parse ([`crate::json`]).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Frame, frame_from_vec};
use crate::json;

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

/// Cuts text to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
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

// ---------------------------------------------------------------------------------------------
// Linker output
// ---------------------------------------------------------------------------------------------

/// One element of a linker output: a payload and the players it is for, with the payload already
/// wrapped and serialised as the `json_output` frame headsets receive.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Player ids, in the order GAMA listed them.
    pub players: Vec<String>,
    /// `{"contents":<payload>,"type":"json_output"}`, serialised once for every recipient.
    pub frame: Frame,
    /// Whether a newer payload of the same kind makes this one useless.
    pub kind: PayloadKind,
}

impl Delivery {
    /// A delivery of a serialised `json_output` frame.
    pub(crate) fn from_parts(players: Vec<String>, frame: Vec<u8>) -> Self {
        Self::new(players, frame)
    }

    fn new(players: Vec<String>, frame: Vec<u8>) -> Self {
        let kind = PayloadKind::of_frame(&frame);
        Delivery {
            players,
            frame: frame_from_vec(frame),
            kind,
        }
    }
}

/// How a payload may be treated when a headset falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// A per-step world update (`pointsLoc` first, `"isInit":false`): a full snapshot of the
    /// dynamic agents, so only the newest one waiting for a slow headset matters (Unity drops stale
    /// ones anyway, protocol.md §6.2).
    WorldUpdate,
    /// Everything else (parameters, properties, the initial world, walls, end of game…): each one
    /// must arrive.
    OneShot,
}

impl PayloadKind {
    /// Classifies a serialised `json_output` frame. Inside JSON strings quotes are escaped, so the
    /// bytes `"isInit":false` can only be a real key.
    pub fn of_frame(frame: &[u8]) -> Self {
        const WORLD: &[u8] = b"{\"contents\":{\"pointsLoc\":";
        if frame.starts_with(WORLD) && memchr::memmem::find(frame, b"\"isInit\":false").is_some() {
            PayloadKind::WorldUpdate
        } else {
            PayloadKind::OneShot
        }
    }
}

/// What a `SimulationOutput` carried.
#[derive(Debug, PartialEq, Eq)]
pub enum SimulationOutput {
    /// Unity linker output: this many elements were handed to the sink, in GAMA's order.
    Linker(usize),
    /// The linker's plain-text reply to `ping_GAMA`.
    Pong,
    /// A console `write` from the model.
    Console(String),
    /// Anything else (kept short, for the log).
    Other(String),
}

const FRAME_PREFIX: &[u8] = b"{\"contents\":";
const FRAME_SUFFIX: &[u8] = b",\"type\":\"json_output\"}";

/// Interprets the `content` of a `SimulationOutput` (a JSON string holding the linker's JSON, or the
/// same document embedded as an object) and hands each element to `sink` as soon as it is parsed,
/// so the first headsets are served while the rest of a big output is still being read.
pub fn parse_simulation_output(
    content: Option<&RawValue>,
    sink: &mut dyn FnMut(Delivery),
) -> SimulationOutput {
    parse_with(content, sink, None)
}

/// The general (serde) path alone, without the fast scanner: the reference the fast path is
/// checked against (fuzz/fuzz_targets/linker_output.rs).
#[doc(hidden)]
pub fn collect_simulation_output_reference(
    content: Option<&RawValue>,
) -> (SimulationOutput, Vec<Delivery>) {
    let mut deliveries = Vec::new();
    let output = parse_with(content, &mut |d| deliveries.push(d), Some(0));
    (output, deliveries)
}

/// `already`: `None` to try the fast path first, `Some(k)` when it ran and delivered `k` elements.
fn parse_with(
    content: Option<&RawValue>,
    sink: &mut dyn FnMut(Delivery),
    already: Option<usize>,
) -> SimulationOutput {
    let Some(raw) = content else {
        return SimulationOutput::Other(String::new());
    };
    let text = raw.get();
    // The fast path first (one pass over the escaped text); the general path below takes over
    // where it stops, after the elements it already delivered.
    let skip = if let Some(k) = already {
        k
    } else if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if inner == "pong" {
            return SimulationOutput::Pong;
        }
        match super::linker::scan(inner.as_bytes(), true, sink) {
            super::linker::Scanned::Linker(n) => return SimulationOutput::Linker(n),
            super::linker::Scanned::Stopped(k) => k,
        }
    } else if text.starts_with('{') {
        match super::linker::scan(text.as_bytes(), false, sink) {
            super::linker::Scanned::Linker(n) => return SimulationOutput::Linker(n),
            super::linker::Scanned::Stopped(k) => k,
        }
    } else {
        0
    };
    if text.starts_with('"') {
        let Ok(inner) = serde_json::from_str::<Cow<'_, str>>(text) else {
            return SimulationOutput::Other(truncate(text, 200));
        };
        let trimmed = inner.trim();
        if trimmed == "pong" {
            return SimulationOutput::Pong;
        }
        if !trimmed.starts_with('{') {
            return SimulationOutput::Other(truncate(trimmed, 200));
        }
        parse_output_document(trimmed, sink, skip)
    } else if text.starts_with('{') {
        parse_output_document(text, sink, skip)
    } else {
        SimulationOutput::Other(truncate(text, 200))
    }
}

/// The general path alone, after the fast path delivered `skip` elements of the same content.
pub fn parse_simulation_output_from(
    content: Option<&RawValue>,
    sink: &mut dyn FnMut(Delivery),
    skip: usize,
) -> SimulationOutput {
    parse_with(content, sink, Some(skip))
}

/// How every `SimulationOutput` frame of GAMA's begins (`type`, then `content` as a string): the
/// fast path can start reading the content without parsing the envelope first.
pub const SIMULATION_OUTPUT_PREFIX: &str = r#"{"type":"SimulationOutput","content":""#;

/// The hot path: a frame that begins as GAMA writes `SimulationOutput` is read straight from the
/// frame, each element handed to `sink` as soon as it is read, without parsing the envelope first.
/// `None` when the frame begins otherwise; after `Stopped(k)`, [`parse_simulation_output_from`]
/// with `k` finishes the job.
pub fn scan_simulation_output_frame(
    frame: &str,
    sink: &mut dyn FnMut(Delivery),
) -> Option<super::linker::Scanned> {
    let content = frame.strip_prefix(SIMULATION_OUTPUT_PREFIX)?;
    Some(super::linker::scan(content.as_bytes(), true, sink))
}

/// [`parse_simulation_output`] collecting the deliveries, for tests and tools.
pub fn collect_simulation_output(content: Option<&RawValue>) -> (SimulationOutput, Vec<Delivery>) {
    let mut deliveries = Vec::new();
    let output = parse_simulation_output(content, &mut |d| deliveries.push(d));
    (output, deliveries)
}

/// Parses `{"contents":[{"id":[…],"contents":{…}},…],"type":"output"}` or a console object
/// `{"message":…,"color":…}`.
/// `skip` elements were already delivered by the fast path: they are read, not delivered again.
fn parse_output_document(
    doc: &str,
    sink: &mut dyn FnMut(Delivery),
    skip: usize,
) -> SimulationOutput {
    let mut de = serde_json::Deserializer::from_str(doc);
    let mut delivered = skip;
    match de::DeserializeSeed::deserialize(
        DocumentSeed {
            sink,
            delivered: &mut delivered,
            skip,
        },
        &mut de,
    ) {
        Ok(Document::Linker) => SimulationOutput::Linker(delivered),
        Ok(Document::Console(message)) => SimulationOutput::Console(message),
        Ok(Document::Other) => SimulationOutput::Other(truncate(doc, 200)),
        Err(e) => {
            tracing::warn!(error = %e, delivered, "GAMA sent a linker output that is not valid JSON; the elements before the error were delivered");
            SimulationOutput::Linker(delivered)
        }
    }
}

enum Document {
    Linker,
    Console(String),
    Other,
}

/// The document, with its elements handed to the sink as the parser reaches them.
struct DocumentSeed<'s, 'f> {
    sink: &'s mut dyn FnMut(Delivery),
    delivered: &'f mut usize,
    skip: usize,
}

impl<'de> de::DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = Document;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Document, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a linker output or a console message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut linker = false;
        let mut message = None;
        while let Some(key) = map.next_key::<DocumentField>()? {
            match key {
                DocumentField::Contents if !linker => {
                    linker = true;
                    map.next_value_seed(ElementsSeed {
                        sink: &mut *self.sink,
                        delivered: &mut *self.delivered,
                        skip: self.skip,
                    })?;
                }
                DocumentField::Message => {
                    message = map.next_value::<MaybeText>()?.0;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if linker {
            Document::Linker
        } else if let Some(m) = message {
            Document::Console(m)
        } else {
            Document::Other
        })
    }
}

/// The keys of the document that matter, identified without allocating.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum DocumentField {
    Contents,
    Message,
    #[serde(other)]
    Other,
}

struct ElementsSeed<'s, 'f> {
    sink: &'s mut dyn FnMut(Delivery),
    delivered: &'f mut usize,
    skip: usize,
}

impl<'de> de::DeserializeSeed<'de> for ElementsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of {\"id\":[…],\"contents\":{…}}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(element) = seq.next_element::<Element<'de>>()? {
            if index < self.skip {
                index += 1;
                continue;
            }
            match element.into_delivery() {
                Some(d) => {
                    (self.sink)(d);
                    *self.delivered += 1;
                }
                None => tracing::warn!(
                    element = index,
                    "GAMA sent a linker output element without a usable id list or contents; skipped it"
                ),
            }
            index += 1;
        }
        Ok(())
    }

    // Anything but a list: not linker output after all.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One element, read without failing on a wrong shape (a bad element must not cost the others
/// their delivery): `id` and `contents` when they are usable, `None` otherwise.
struct Element<'a> {
    players: Option<Vec<String>>,
    contents: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an element")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element<'de>, A::Error> {
                let mut e = Element {
                    players: None,
                    contents: None,
                };
                while let Some(key) = map.next_key::<ElementField>()? {
                    match key {
                        ElementField::Id => {
                            e.players = map.next_value::<PlayerIds>()?.0;
                        }
                        ElementField::Contents => {
                            e.contents = Some(map.next_value::<&'de RawValue>()?);
                        }
                        ElementField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element {
                    players: None,
                    contents: None,
                })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Element<'de>, E> {
                Ok(Element {
                    players: None,
                    contents: None,
                })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
        }
        d.deserialize_any(V)
    }
}

impl Element<'_> {
    /// The element wrapped as the frame headsets receive, its payload re-serialised as
    /// JavaScript would (fast scanner first, the serde reference for anything unusual, and the
    /// bytes as GAMA wrote them if even that refuses, e.g. a number out of a double's range).
    fn into_delivery(self) -> Option<Delivery> {
        let players = self.players?;
        let payload = self.contents?.get();
        let mut buf = Vec::with_capacity(payload.len() + FRAME_PREFIX.len() + FRAME_SUFFIX.len());
        buf.extend_from_slice(FRAME_PREFIX);
        if !json::normalize_js(payload, &mut buf) && json::write_js(payload, &mut buf).is_err() {
            buf.truncate(FRAME_PREFIX.len());
            buf.extend_from_slice(payload.as_bytes());
        }
        buf.extend_from_slice(FRAME_SUFFIX);
        Some(Delivery::new(players, buf))
    }
}

/// The keys of a linker output element, identified without allocating.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ElementField {
    Id,
    Contents,
    #[serde(other)]
    Other,
}

/// `id`: a list of player names; a single string or numbers are accepted too. `None` for
/// anything else (objects, lists of lists).
struct PlayerIds(Option<Vec<String>>);

impl<'de> Deserialize<'de> for PlayerIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<String>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of player ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                let mut usable = true;
                while let Some(MaybeText(id)) = seq.next_element::<MaybeText>()? {
                    match id {
                        Some(id) if usable => out.push(id),
                        _ => usable = false,
                    }
                }
                Ok(usable.then_some(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V).map(PlayerIds)
    }
}

/// A string, or a number/bool taken as its text; `None` for anything else (never an error, so a
/// bad id does not abort the document).
struct MaybeText(Option<String>);

impl<'de> Deserialize<'de> for MaybeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        d.deserialize_any(V).map(MaybeText)
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

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

    fn frames((out, deliveries): (SimulationOutput, Vec<Delivery>)) -> Vec<(Vec<String>, String)> {
        assert_eq!(
            out,
            SimulationOutput::Linker(deliveries.len()),
            "not linker output"
        );
        deliveries
            .into_iter()
            .map(|d| (d.players, d.frame.as_str().to_string()))
            .collect()
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    const LINKER: &str = r#"{"contents":[{"id":["Player_101"],"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}},{"id":["Player_101","Player_102"],"contents":{"enableMove":false}}],"type":"output"}"#;

    #[test]
    fn string_content_is_unwrapped_and_payloads_normalised() {
        let content = raw(&serde_json::to_string(LINKER).unwrap());
        let got = frames(collect_simulation_output(Some(&content)));
        assert_eq!(
            got,
            vec![
                (
                    vec!["Player_101".to_string()],
                    r#"{"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100},"type":"json_output"}"#.to_string()
                ),
                (
                    vec!["Player_101".to_string(), "Player_102".to_string()],
                    r#"{"contents":{"enableMove":false},"type":"json_output"}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn object_content_gives_the_same_frames() {
        let as_string = frames(collect_simulation_output(Some(&raw(
            &serde_json::to_string(LINKER).unwrap(),
        ))));
        let as_object = frames(collect_simulation_output(Some(&raw(LINKER))));
        assert_eq!(as_string, as_object);
    }

    #[test]
    fn pong_console_and_garbage_are_recognised() {
        assert!(matches!(
            collect_simulation_output(Some(&raw("\"pong\""))).0,
            SimulationOutput::Pong
        ));
        match collect_simulation_output(Some(&raw(
            r#"{"message":"create player: P1","color":{"r":0,"g":0,"b":0}}"#,
        )))
        .0
        {
            SimulationOutput::Console(m) => assert_eq!(m, "create player: P1"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            collect_simulation_output(Some(&raw("\"not json\""))).0,
            SimulationOutput::Other(_)
        ));
        assert!(matches!(
            collect_simulation_output(Some(&raw("42"))).0,
            SimulationOutput::Other(_)
        ));
    }

    #[test]
    fn a_bad_element_does_not_cost_the_good_ones() {
        let doc = r#"{"contents":[{"contents":{"a":1}},{"id":"P1","contents":{"b":2.0}},{"id":[7],"contents":{"c":3}}]}"#;
        let got = frames(collect_simulation_output(Some(&raw(doc))));
        assert_eq!(
            got,
            vec![
                (
                    vec!["P1".to_string()],
                    r#"{"contents":{"b":2},"type":"json_output"}"#.to_string()
                ),
                (
                    vec!["7".to_string()],
                    r#"{"contents":{"c":3},"type":"json_output"}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn world_updates_are_told_from_one_shot_payloads() {
        let frames = |doc: &str| {
            collect_simulation_output(Some(&raw(doc)))
                .1
                .into_iter()
                .map(|d| d.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            frames(
                r#"{"contents":[
                {"id":["P"],"contents":{"pointsLoc":[{"c":[1,2,0,0]}],"isInit":false,"names":["a"]}},
                {"id":["P"],"contents":{"pointsLoc":[],"isInit":true,"names":["isInit\":false"]}},
                {"id":["P"],"contents":{"pointsLoc":[],"names":["\"isInit\":false"]}},
                {"id":["P"],"contents":{"precision":10000,"isInit":false}}]}"#
            ),
            [
                PayloadKind::WorldUpdate,
                PayloadKind::OneShot,
                PayloadKind::OneShot,
                PayloadKind::OneShot
            ]
        );
    }

    /// Found by fuzzing (fuzz/artifacts/gama_frame): a number serde_json cannot hold (JSON allows
    /// it) makes the one-pass parse fail; the element is then forwarded as GAMA wrote it, never
    /// dropped, and the other elements are still normalised.
    #[test]
    fn out_of_range_numbers_are_forwarded_unchanged() {
        let doc = r#"{"contents":[{"id":["P0"],"contents":{"c":[1.0,4422220000001000005E544113118]}},{"id":["P0"],"contents":{"ok":2.0}}]}"#;
        let got = frames(collect_simulation_output(Some(&raw(doc))));
        assert_eq!(
            got,
            vec![
                (
                    vec!["P0".to_string()],
                    r#"{"contents":{"c":[1.0,4422220000001000005E544113118]},"type":"json_output"}"#
                        .to_string()
                ),
                (vec!["P0".to_string()], r#"{"contents":{"ok":2},"type":"json_output"}"#.to_string()),
            ]
        );
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
