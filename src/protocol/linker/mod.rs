//! What GAMA's SIMPLE linker sends (protocol.md §4.4): `SimulationOutput` messages whose content is
//! `{"contents":[{"id":[players…],"contents":{payload}},…]}`, each element to be delivered to its
//! players as `{"contents":{payload},"type":"json_output"}`.
//!
//! [`read`] is the one entry point: it takes a whole frame from GAMA and hands each element to the
//! sink as soon as it is read, so the first headsets are served while the rest of a big output is
//! still being read. Frames that begin the way GAMA writes them take the fast path ([`scan`]), which
//! reads the escaped content once without parsing the envelope; anything it does not handle is
//! finished by the general path ([`general`]) from where it stopped. Other frames come back with
//! their envelope parsed, for the caller.

mod general;
mod scan;

use serde_json::value::RawValue;

use super::gama::{Envelope, MessageType};
use super::{Frame, frame_from_vec};
use crate::support::excerpt::truncate;
use scan::Scanned;

const FRAME_PREFIX: &[u8] = b"{\"contents\":";
const FRAME_SUFFIX: &[u8] = b",\"type\":\"json_output\"}";

/// How every `SimulationOutput` frame of GAMA's begins (`type`, then `content` as a string).
const SIMULATION_OUTPUT_PREFIX: &str = r#"{"type":"SimulationOutput","content":""#;

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

/// The first key of a `json_output` frame's payload: what a cache of "the latest of each kind"
/// keeps one of (the world view's, a session's snapshots). A world that is not a per-step update
/// (the initial one) is kept apart from the updates; `kind` already says which.
pub fn payload_key(frame: &str, kind: PayloadKind) -> Option<&str> {
    let rest = frame.strip_prefix("{\"contents\":{\"")?;
    let key = &rest[..rest.find('"')?];
    Some(if key == "pointsLoc" && kind == PayloadKind::OneShot {
        "pointsLoc:init"
    } else {
        key
    })
}

/// Where a payload of `key` ([`payload_key`]) goes when a late viewer catches up (the world view
/// opened mid-session, a seek in a kept session): parameters, properties and the initial world
/// before anything that builds on them, the newest world update last.
pub fn replay_rank(key: &str) -> u8 {
    match key {
        "precision" => 0,
        "properties" => 1,
        "pointsLoc:init" => 2,
        "pointsLoc" => 4,
        _ => 3,
    }
}

/// The payload inside a `json_output` frame, as the relay wrote it.
pub fn payload_of(frame: &str) -> Option<&str> {
    let prefix = std::str::from_utf8(FRAME_PREFIX).ok()?;
    let suffix = std::str::from_utf8(FRAME_SUFFIX).ok()?;
    frame.strip_prefix(prefix)?.strip_suffix(suffix)
}

/// The `json_output` frame of a payload: the same bytes the relay sent when it was live.
pub fn frame_of(payload: &str) -> Frame {
    let mut buf = Vec::with_capacity(payload.len() + FRAME_PREFIX.len() + FRAME_SUFFIX.len());
    buf.extend_from_slice(FRAME_PREFIX);
    buf.extend_from_slice(payload.as_bytes());
    buf.extend_from_slice(FRAME_SUFFIX);
    frame_from_vec(buf)
}

/// What a `SimulationOutput` carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Unity linker output: this many elements were handed to the sink, in GAMA's order.
    Linker(usize),
    /// The linker's plain-text reply to `ping_GAMA`.
    Pong,
    /// A console `write` from the model.
    Console(String),
    /// Anything else (kept short, for the log).
    Other(String),
}

/// What a frame from GAMA turned out to be.
#[derive(Debug)]
pub enum Read<'a> {
    /// A `SimulationOutput`; its linker elements were handed to the sink.
    Output(Output),
    /// Any other message, with its envelope.
    Other(Envelope<'a>),
    /// Not a gama-server message.
    Unreadable(serde_json::Error),
}

/// Reads one frame from GAMA, handing each linker element to `sink` as soon as it is read.
pub fn read<'a>(frame: &'a str, sink: &mut dyn FnMut(Delivery)) -> Read<'a> {
    let delivered = match frame.strip_prefix(SIMULATION_OUTPUT_PREFIX) {
        Some(content) => match scan::scan(content.as_bytes(), true, sink) {
            Scanned::Linker(n) => return Read::Output(Output::Linker(n)),
            Scanned::Stopped(k) => Some(k),
        },
        None => None,
    };
    match Envelope::parse(frame) {
        Ok(e) if e.message_type() == MessageType::SimulationOutput => {
            Read::Output(read_content(e.content, sink, delivered))
        }
        Ok(e) => Read::Other(e),
        Err(e) => Read::Unreadable(e),
    }
}

/// Reads a `SimulationOutput`'s `content` (a JSON string holding the linker's JSON, or the same
/// document embedded as an object). `delivered`: `None` to try the fast path first, `Some(k)` when
/// it already ran on this content and delivered `k` elements.
#[doc(hidden)]
pub fn read_content(
    content: Option<&RawValue>,
    sink: &mut dyn FnMut(Delivery),
    delivered: Option<usize>,
) -> Output {
    let Some(raw) = content else {
        return Output::Other(String::new());
    };
    let text = raw.get();
    let skip = if let Some(k) = delivered {
        k
    } else if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if inner == "pong" {
            return Output::Pong;
        }
        match scan::scan(inner.as_bytes(), true, sink) {
            Scanned::Linker(n) => return Output::Linker(n),
            Scanned::Stopped(k) => k,
        }
    } else if text.starts_with('{') {
        match scan::scan(text.as_bytes(), false, sink) {
            Scanned::Linker(n) => return Output::Linker(n),
            Scanned::Stopped(k) => k,
        }
    } else {
        0
    };
    general_from(text, sink, skip)
}

/// The general path alone, from the start: the reference the fast path is checked against
/// (fuzz/fuzz_targets/linker_output.rs).
#[doc(hidden)]
pub fn reference(content: Option<&RawValue>) -> (Output, Vec<Delivery>) {
    let mut deliveries = Vec::new();
    let output = match content {
        Some(raw) => general_from(raw.get(), &mut |d| deliveries.push(d), 0),
        None => Output::Other(String::new()),
    };
    (output, deliveries)
}

/// The general path over a content's text, `skip` elements already delivered.
fn general_from(text: &str, sink: &mut dyn FnMut(Delivery), skip: usize) -> Output {
    if text.starts_with('"') {
        let Ok(inner) = serde_json::from_str::<std::borrow::Cow<'_, str>>(text) else {
            return Output::Other(truncate(text, 200));
        };
        let trimmed = inner.trim();
        if trimmed == "pong" {
            return Output::Pong;
        }
        if !trimmed.starts_with('{') {
            return Output::Other(truncate(trimmed, 200));
        }
        general::document(trimmed, sink, skip)
    } else if text.starts_with('{') {
        general::document(text, sink, skip)
    } else {
        Output::Other(truncate(text, 200))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(content: Option<&RawValue>) -> (Output, Vec<Delivery>) {
        let mut deliveries = Vec::new();
        let output = read_content(content, &mut |d| deliveries.push(d), None);
        (output, deliveries)
    }

    fn frames((out, deliveries): (Output, Vec<Delivery>)) -> Vec<(Vec<String>, String)> {
        assert_eq!(out, Output::Linker(deliveries.len()), "not linker output");
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
        let got = frames(collect(Some(&content)));
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
        let as_string = frames(collect(Some(&raw(&serde_json::to_string(LINKER).unwrap()))));
        let as_object = frames(collect(Some(&raw(LINKER))));
        assert_eq!(as_string, as_object);
    }

    #[test]
    fn a_whole_frame_is_read_on_the_fast_path_or_finished_by_the_general_one() {
        let content = serde_json::to_string(LINKER).unwrap();
        let fast = format!(r#"{{"type":"SimulationOutput","content":{content},"exp_id":"0"}}"#);
        let reordered =
            format!(r#"{{"exp_id":"0","content":{content},"type":"SimulationOutput"}}"#);
        let expected = frames(collect(Some(&raw(LINKER))));
        for frame in [fast, reordered] {
            let mut got = Vec::new();
            match read(&frame, &mut |d| got.push(d)) {
                Read::Output(out) => assert_eq!(frames((out, got)), expected),
                other => panic!("{other:?}"),
            }
        }
        // An id the fast path does not take: it stops after the first element, the general path
        // delivers the rest, nothing twice.
        let odd =
            r#"{"contents":[{"id":["A"],"contents":{"a":1}},{"id":[7],"contents":{"b":2.0}}]}"#;
        let frame = format!(
            r#"{{"type":"SimulationOutput","content":{}}}"#,
            serde_json::to_string(odd).unwrap()
        );
        let mut got = Vec::new();
        let Read::Output(out) = read(&frame, &mut |d| got.push(d)) else {
            panic!("not output")
        };
        assert_eq!(
            frames((out, got)),
            vec![
                (
                    vec!["A".to_string()],
                    r#"{"contents":{"a":1},"type":"json_output"}"#.to_string()
                ),
                (
                    vec!["7".to_string()],
                    r#"{"contents":{"b":2},"type":"json_output"}"#.to_string()
                ),
            ]
        );
        // Other messages come back with their envelope; garbage is unreadable.
        assert!(matches!(
            read(r#"{"type":"SimulationStatus","content":"PAUSED"}"#, &mut |_| {}),
            Read::Other(e) if e.message_type() == MessageType::SimulationStatus
        ));
        assert!(matches!(read("{oops", &mut |_| {}), Read::Unreadable(_)));
    }

    #[test]
    fn pong_console_and_garbage_are_recognised() {
        assert!(matches!(collect(Some(&raw("\"pong\""))).0, Output::Pong));
        match collect(Some(&raw(
            r#"{"message":"create player: P1","color":{"r":0,"g":0,"b":0}}"#,
        )))
        .0
        {
            Output::Console(m) => assert_eq!(m, "create player: P1"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            collect(Some(&raw("\"not json\""))).0,
            Output::Other(_)
        ));
        assert!(matches!(collect(Some(&raw("42"))).0, Output::Other(_)));
    }

    #[test]
    fn a_bad_element_does_not_cost_the_good_ones() {
        let doc = r#"{"contents":[{"contents":{"a":1}},{"id":"P1","contents":{"b":2.0}},{"id":[7],"contents":{"c":3}}]}"#;
        let got = frames(collect(Some(&raw(doc))));
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
        let kinds = |doc: &str| {
            collect(Some(&raw(doc)))
                .1
                .into_iter()
                .map(|d| d.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(
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
        let got = frames(collect(Some(&raw(doc))));
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
}
