//! What travels on the wire: realistic SIMPLE payloads, the frames that carry them, and the stamp
//! that lets a receiver compute latency.
//!
//! Everything here is pure and built by hand rather than through `serde_json::Value`, because key
//! order is part of the protocol (Unity routes a `json_output` on its first key, protocol.md §2.1)
//! and a `Value` map would sort the keys.
//!
//! A payload is stamped by appending one key at its end, `"bench":[phase,seq,t_ns]`, the way a
//! model's `add_to_send_world` hook appends extra keys: a relay must forward it like any other.
//! Every number in a payload is an integer, so a relay that re-prints numbers JavaScript-style
//! (`100.0` → `100`) forwards the payload byte for byte, and the frame a headset receives through a
//! relay is exactly the frame the `--direct` baseline sends: byte counts can be compared.

use std::fmt::Write as _;

/// Where a payload was sent from and when: the key appended to every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Measurement phase (a scenario may run several, e.g. the ramp's steps).
    pub phase: u64,
    /// Tick number within the phase.
    pub seq: u64,
    /// Scheduled send time, nanoseconds since the benchmark's epoch.
    pub t_ns: u64,
}

/// Player id of the `index`-th simulated headset: `Player_001`, `Player_002`, …
pub fn player_id(index: usize) -> String {
    format!("Player_{:03}", index + 1)
}

/// The headset index encoded in a [`player_id`].
pub fn player_index(id: &str) -> Option<usize> {
    let n: usize = id.strip_prefix("Player_")?.parse().ok()?;
    n.checked_sub(1)
}

/// A payload prepared for fast stamping: its JSON without the closing brace, plain and escaped as
/// the inside of a JSON string (GAMA sends linker output as a string, protocol.md §4.4).
#[derive(Debug, Clone)]
pub struct Body {
    open: String,
    escaped_open: String,
}

impl Body {
    /// Prepares a JSON object's text (`None` if it is not an object: the stamp goes inside).
    pub fn new(object: &str) -> Option<Body> {
        let open = object.trim_end().strip_suffix('}')?.to_string();
        if !open.trim_start().starts_with('{') {
            return None;
        }
        let mut escaped_open = String::with_capacity(open.len() + open.len() / 8);
        escape_into(&mut escaped_open, &open);
        Some(Body { open, escaped_open })
    }
}

/// Appends `text` escaped as the inside of a JSON string literal.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

// -------------------------------------------------------------------------------------------------
// World payloads (protocol.md §6.3, `send_geometries`)
// -------------------------------------------------------------------------------------------------

/// Kinds of agents in a generated world, cycled through by index: two prefab agents (one entry of
/// `pointsLoc` each) for one geometry agent (one entry of `pointsGeom` and `offsetYGeom`).
const KINDS: [(&str, bool); 3] = [("people", true), ("car", true), ("block", false)];

/// A small deterministic generator for coordinates: the numbers look like GAMA's (6 to 7 digits at
/// precision 10000) without pulling in a random-number crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// A world message with `agents` agents, keys in the linker's emission order: `pointsLoc`,
/// `isInit`, `offsetYGeom`, `names`, `keepNames`, `propertyID`, `pointsGeom`, `attributes`, then
/// `position` for an initial world.
pub fn world_with_agents(agents: usize, is_init: bool) -> String {
    let mut rng = Lcg(0x5151_e5e5 ^ agents as u64);
    let mut locs = String::new();
    let mut geoms = String::new();
    let mut offsets = String::new();
    let mut names = String::new();
    let mut props = String::new();
    let mut attrs = String::new();
    for i in 0..agents {
        let (kind, prefab) = KINDS[i % KINDS.len()];
        let sep = |s: &mut String| {
            if !s.is_empty() {
                s.push(',');
            }
        };
        if prefab {
            sep(&mut locs);
            let _ = write!(
                locs,
                "{{\"c\":[{},{},{},{}]}}",
                rng.next(1_000_000),
                rng.next(800_000),
                rng.next(20_000),
                rng.next(3_600_000)
            );
        } else {
            sep(&mut geoms);
            let (x, y) = (rng.next(990_000), rng.next(790_000));
            let (w, h) = (rng.next(10_000) + 100, rng.next(10_000) + 100);
            let _ = write!(
                geoms,
                "{{\"c\":[{x},{y},{},{y},{},{},{x},{},{x},{y}]}}",
                x + w,
                x + w,
                y + h,
                y + h
            );
            sep(&mut offsets);
            let _ = write!(offsets, "{}", rng.next(5_000));
        }
        sep(&mut names);
        let _ = write!(names, "\"{kind}{i}\"");
        sep(&mut props);
        let _ = write!(props, "\"{kind}\"");
        sep(&mut attrs);
        if i % 7 == 0 {
            let _ = write!(
                attrs,
                "{{\"color\":[{},{},{}]}}",
                rng.next(256),
                rng.next(256),
                rng.next(256)
            );
        } else {
            attrs.push_str("{}");
        }
    }
    let mut out = String::with_capacity(
        locs.len() + geoms.len() + offsets.len() + names.len() + props.len() + attrs.len() + 160,
    );
    let _ = write!(
        out,
        "{{\"pointsLoc\":[{locs}],\"isInit\":{is_init},\"offsetYGeom\":[{offsets}],\
         \"names\":[{names}],\"keepNames\":[],\"propertyID\":[{props}],\
         \"pointsGeom\":[{geoms}],\"attributes\":[{attrs}]"
    );
    if is_init {
        out.push_str(",\"position\":[500000,400000,0]");
    }
    out.push('}');
    out
}

/// The largest world message of at most `target_bytes` (at least one agent).
pub fn world(target_bytes: usize, is_init: bool) -> String {
    let (mut lo, mut hi) = (1usize, target_bytes / 16 + 2);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if world_with_agents(mid, is_init).len() <= target_bytes {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    world_with_agents(lo, is_init)
}

// -------------------------------------------------------------------------------------------------
// Frames
// -------------------------------------------------------------------------------------------------

const OUTPUT_SUFFIX: &str = ",\"type\":\"json_output\"}";

fn stamp_text(stamp: Stamp) -> String {
    format!("[{},{},{}]", stamp.phase, stamp.seq, stamp.t_ns)
}

/// The frame a relay delivers to a headset for `body` (and what `--direct` sends):
/// `{"contents":<payload + stamp>,"type":"json_output"}`.
pub fn output_frame(body: &Body, stamp: Stamp) -> String {
    let stamp = stamp_text(stamp);
    let mut out = String::with_capacity(body.open.len() + stamp.len() + 48);
    out.push_str("{\"contents\":");
    out.push_str(&body.open);
    out.push_str(",\"bench\":");
    out.push_str(&stamp);
    out.push('}');
    out.push_str(OUTPUT_SUFFIX);
    out
}

/// Length of [`output_frame`] without building it.
pub fn output_frame_len(body: &Body, stamp: Stamp) -> usize {
    "{\"contents\":".len()
        + body.open.len()
        + ",\"bench\":".len()
        + stamp_text(stamp).len()
        + 1
        + OUTPUT_SUFFIX.len()
}

/// One element of a linker output: a payload and the players it is for.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// Recipients, in order.
    pub players: &'a [String],
    /// The payload.
    pub body: &'a Body,
}

/// gama-server's `SimulationOutput` carrying linker output (protocol.md §4.4):
/// `{"type":"SimulationOutput","content":"<linker JSON as a string>","exp_id":"0"}` where the linker
/// JSON is `{"contents":[{"id":[…],"contents":{…}},…],"type":"output"}`. Every payload gets `stamp`.
pub fn linker_frame(elements: &[Element<'_>], stamp: Stamp) -> String {
    let stamp = stamp_text(stamp);
    let size: usize = elements
        .iter()
        .map(|e| e.body.escaped_open.len() + e.players.len() * 20 + stamp.len() + 48)
        .sum();
    let mut out = String::with_capacity(size + 96);
    out.push_str("{\"type\":\"SimulationOutput\",\"content\":\"{\\\"contents\\\":[");
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\\\"id\\\":[");
        for (j, p) in e.players.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("\\\"");
            escape_into(&mut out, p);
            out.push_str("\\\"");
        }
        out.push_str("],\\\"contents\\\":");
        out.push_str(&e.body.escaped_open);
        out.push_str(",\\\"bench\\\":");
        out.push_str(&stamp);
        out.push_str("}}");
    }
    out.push_str("],\\\"type\\\":\\\"output\\\"}\",\"exp_id\":\"0\"}");
    out
}

/// The stamp of a received `json_output` frame, read from its end (cheap even for megabytes).
pub fn parse_stamp(frame: &str) -> Option<Stamp> {
    let rest = frame.strip_suffix(OUTPUT_SUFFIX)?.strip_suffix("]}")?;
    let start = rest.rfind(",\"bench\":[")? + ",\"bench\":[".len();
    let mut parts = rest[start..].split(',');
    let mut next = || parts.next()?.trim().parse::<u64>().ok();
    let stamp = Stamp {
        phase: next()?,
        seq: next()?,
        t_ns: next()?,
    };
    parts.next().is_none().then_some(stamp)
}

// -------------------------------------------------------------------------------------------------
// Headset → GAMA
// -------------------------------------------------------------------------------------------------

/// The agent every Unity `ask` targets (protocol.md §5.2).
pub const UNITY_AGENT: &str = "simulation[0].unity_linker[0]";

/// Unity's `connection` message.
pub fn connection_message(id: &str) -> String {
    let mut out = String::from("{\"type\":\"connection\",\"id\":\"");
    escape_into(&mut out, id);
    out.push_str("\",\"heartbeat\":\"5000\"}");
    out
}

/// Unity's answer to the relay's keep-alive ping.
pub const PONG: &str = "{\"type\":\"pong\"}";

/// A `move_player_external` ask exactly as Unity sends it (protocol.md §5.2, §6.4): every value a
/// string and `args` a JSON string holding an object. The stamp rides in the coordinates, which are
/// decimal integers as Unity's: `x` the scheduled send time, `y` the sequence number, `z` the phase.
pub fn ask_message(id: &str, stamp: Stamp) -> String {
    let mut escaped_id = String::with_capacity(id.len());
    escape_into(&mut escaped_id, id);
    format!(
        "{{\"type\":\"ask\",\"action\":\"move_player_external\",\"args\":\"{{\\\"id\\\":\\\"{escaped_id}\\\",\
         \\\"x\\\":\\\"{}\\\",\\\"y\\\":\\\"{}\\\",\\\"z\\\":\\\"{}\\\",\\\"angle\\\":\\\"900000\\\"}}\",\
         \"agent\":\"{UNITY_AGENT}\"}}",
        stamp.t_ns, stamp.seq, stamp.phase
    )
}

/// The arguments of a stamped ask, as found in the `args` string GAMA (or `--direct`) receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskStamp {
    /// Index of the headset that sent it.
    pub player: usize,
    /// When it was scheduled, and its number.
    pub stamp: Stamp,
}

/// Reads the stamp back from an ask's `args` text (`{"id":"Player_001","x":"…","y":"…","z":"…",…}`).
pub fn parse_ask_args(args: &str) -> Option<AskStamp> {
    #[derive(serde::Deserialize)]
    struct Args<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        x: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        y: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        z: std::borrow::Cow<'a, str>,
    }
    let a: Args<'_> = serde_json::from_str(args).ok()?;
    Some(AskStamp {
        player: player_index(&a.id)?,
        stamp: Stamp {
            phase: a.z.parse().ok()?,
            seq: a.y.parse().ok()?,
            t_ns: a.x.parse().ok()?,
        },
    })
}

/// The fields of an incoming message that the receivers of the bench look at: a command sent to
/// gama-server, or a headset's message to the direct server. Borrowed, so parsing a small ask
/// allocates nothing.
#[derive(Debug, serde::Deserialize)]
pub struct Request<'a> {
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub kind: std::borrow::Cow<'a, str>,
    /// `id` of a headset's `connection`.
    #[serde(default, borrow)]
    pub id: Option<std::borrow::Cow<'a, str>>,
    /// `expr` of an `expression`.
    #[serde(default, borrow)]
    pub expr: Option<std::borrow::Cow<'a, str>>,
    /// `args` of an `ask`: a JSON string holding an object.
    #[serde(default, borrow)]
    pub args: Option<std::borrow::Cow<'a, str>>,
}

/// The `json_state` the `--direct` server answers `connection` with, as a relay would.
pub fn json_state(id: &str) -> String {
    let mut escaped = String::with_capacity(id.len());
    escape_into(&mut escaped, id);
    format!(
        "{{\"type\":\"json_state\",\"id_player\":\"{escaped}\",\"id\":\"{escaped}\",\"ping_interval\":\"5000\",\
         \"is_alive\":true,\"connected\":true,\"in_game\":true,\"date_connection\":\"00:00\"}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Top-level keys of a JSON object in document order (serde_json's `Value` would sort them).
    fn keys_in_order(object: &str) -> Vec<String> {
        use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(keys)
            }
        }
        serde_json::Deserializer::from_str(object)
            .deserialize_map(Keys)
            .unwrap()
    }

    #[test]
    fn world_is_valid_json_in_linker_order_and_near_the_target_size() {
        for (target, init) in [(20_000, false), (2_000_000, true), (300, false)] {
            let text = world(target, init);
            assert!(text.len() <= target, "{} > {target}", text.len());
            assert!(
                text.len() >= target - target / 100 - 200,
                "{} ≪ {target}",
                text.len()
            );
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut expected = vec![
                "pointsLoc",
                "isInit",
                "offsetYGeom",
                "names",
                "keepNames",
                "propertyID",
                "pointsGeom",
                "attributes",
            ];
            if init {
                expected.push("position");
            }
            assert_eq!(keys_in_order(&text), expected);
            assert_eq!(v["isInit"], Value::Bool(init));
            // Parallel arrays and the two cursors Unity walks (protocol.md §6.3).
            let n = v["names"].as_array().unwrap().len();
            assert_eq!(v["propertyID"].as_array().unwrap().len(), n);
            assert_eq!(v["attributes"].as_array().unwrap().len(), n);
            let locs = v["pointsLoc"].as_array().unwrap().len();
            let geoms = v["pointsGeom"].as_array().unwrap().len();
            assert_eq!(locs + geoms, n);
            assert_eq!(v["offsetYGeom"].as_array().unwrap().len(), geoms);
            assert_eq!(v["pointsLoc"][0]["c"].as_array().unwrap().len(), 4);
            assert!(!text.contains('.'), "numbers must all be integers");
        }
    }

    #[test]
    fn output_frame_is_json_output_with_the_stamp_last_and_parses_back() {
        let body = Body::new(r#"{"pointsLoc":[],"isInit":false}"#).unwrap();
        assert!(Body::new("[1]").is_none());
        let stamp = Stamp {
            phase: 2,
            seq: 17,
            t_ns: 123_456_789_012,
        };
        let frame = output_frame(&body, stamp);
        assert_eq!(
            frame,
            r#"{"contents":{"pointsLoc":[],"isInit":false,"bench":[2,17,123456789012]},"type":"json_output"}"#
        );
        assert_eq!(frame.len(), output_frame_len(&body, stamp));
        assert_eq!(keys_in_order(&frame), vec!["contents", "type"]);
        assert_eq!(parse_stamp(&frame), Some(stamp));
        assert_eq!(
            parse_stamp(r#"{"contents":{"a":1},"type":"json_output"}"#),
            None
        );
        assert_eq!(parse_stamp(r#"{"type":"ping"}"#), None);
    }

    #[test]
    fn linker_frame_is_what_gama_server_sends() {
        let body = Body::new(&world(2_000, false)).unwrap();
        let a = vec![player_id(0)];
        let everyone = vec![player_id(0), player_id(1)];
        let stamp = Stamp {
            phase: 1,
            seq: 3,
            t_ns: 99,
        };
        let frame = linker_frame(
            &[
                Element {
                    players: &a,
                    body: &body,
                },
                Element {
                    players: &everyone,
                    body: &body,
                },
            ],
            stamp,
        );
        assert_eq!(keys_in_order(&frame), vec!["type", "content", "exp_id"]);
        let outer: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(outer["type"], "SimulationOutput");
        assert_eq!(outer["exp_id"], "0");
        let linker = outer["content"].as_str().unwrap();
        assert_eq!(keys_in_order(linker), vec!["contents", "type"]);
        let doc: Value = serde_json::from_str(linker).unwrap();
        assert_eq!(doc["type"], "output");
        let elements = doc["contents"].as_array().unwrap();
        assert_eq!(elements.len(), 2);
        assert_eq!(
            elements[1]["id"],
            serde_json::json!(["Player_001", "Player_002"])
        );
        // What a relay forwards is exactly the direct frame.
        let element_text = serde_json::to_string(&elements[0]["contents"]).unwrap();
        let payload_start = linker.find(",\"contents\":").unwrap() + ",\"contents\":".len();
        let forwarded = &linker[payload_start..payload_start + element_text.len()];
        let relayed = format!("{{\"contents\":{forwarded},\"type\":\"json_output\"}}");
        assert_eq!(relayed, output_frame(&body, stamp));
        assert_eq!(keys_in_order(forwarded)[0], "pointsLoc");
        assert_eq!(*keys_in_order(forwarded).last().unwrap(), "bench");
    }

    #[test]
    fn ask_is_unity_shaped_and_its_stamp_parses_back() {
        let stamp = Stamp {
            phase: 4,
            seq: 250,
            t_ns: 1_000_000_007,
        };
        let text = ask_message("Player_042", stamp);
        assert_eq!(
            text,
            r#"{"type":"ask","action":"move_player_external","args":"{\"id\":\"Player_042\",\"x\":\"1000000007\",\"y\":\"250\",\"z\":\"4\",\"angle\":\"900000\"}","agent":"simulation[0].unity_linker[0]"}"#
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        let args = v["args"].as_str().unwrap();
        assert_eq!(parse_ask_args(args), Some(AskStamp { player: 41, stamp }));
        assert_eq!(
            parse_ask_args(r#"{"id":"P1","x":"1","y":"2","z":"3"}"#),
            None
        );
    }

    #[test]
    fn ids_and_small_messages() {
        assert_eq!(player_id(0), "Player_001");
        assert_eq!(player_id(99), "Player_100");
        assert_eq!(player_index("Player_100"), Some(99));
        assert_eq!(player_index("Player_000"), None);
        assert_eq!(player_index("Bob"), None);
        let c: Value = serde_json::from_str(&connection_message("Player_007")).unwrap();
        assert_eq!(c["heartbeat"], "5000");
        let s: Value = serde_json::from_str(&json_state("Player_007")).unwrap();
        assert_eq!(s["in_game"], true);
        let mut out = String::new();
        escape_into(&mut out, "a\"b\\c\n\u{1}");
        assert_eq!(out, "a\\\"b\\\\c\\n\\u0001");
    }
}
