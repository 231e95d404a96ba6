//! The fast path of linker output: one pass over the `SimulationOutput` content, straight from the
//! escaped string GAMA sends, producing each element's `json_output` frame as it goes.
//!
//! GAMA sends the linker's JSON inside a JSON string (protocol.md §4.4). The straightforward way
//! (unescape the string, parse the document, re-serialise each payload) reads every byte three
//! times and copies the whole document once; for a classroom's 130 KB output or a 13 MB initial
//! world that is most of the relay's latency. This reads the escaped text once with
//! [`json::Cursor`], which copies plain runs and integers as they are and rewrites only
//! floating-point numbers and strings with escapes of their own.
//!
//! It handles the shapes GAMA writes; anything unusual (an id that is not a string, a `\u` escape,
//! a number out of range…) makes it stop and say how many elements it delivered, and
//! [`super::general`] takes over from there, so nothing is delivered twice and nothing is lost.

use super::{Delivery, FRAME_PREFIX, FRAME_SUFFIX};
use crate::protocol::json::Cursor;

/// How far the fast path got.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scanned {
    /// A linker output, entirely delivered: this many elements.
    Linker(usize),
    /// Not what the fast path handles; this many elements were delivered before it stopped.
    Stopped(usize),
}

/// Reads the linker document in `input` and hands each element to `sink`. With `escaped`, `input`
/// is the text of the `content` string after its opening quote: the document ends at the string's
/// closing quote or at the end of `input`, whatever follows is not looked at. Otherwise `input` is
/// the JSON object itself.
pub(super) fn scan(input: &[u8], escaped: bool, sink: &mut dyn FnMut(Delivery)) -> Scanned {
    let mut cursor = Cursor::new(input, escaped);
    let mut delivered = 0;
    match document(&mut cursor, sink, &mut delivered) {
        Some(true) => Scanned::Linker(delivered),
        _ => Scanned::Stopped(delivered),
    }
}

/// The whole document: `Some(true)` when it was linker output.
fn document(
    c: &mut Cursor<'_>,
    sink: &mut dyn FnMut(Delivery),
    delivered: &mut usize,
) -> Option<bool> {
    c.eat(b'{')?;
    let mut linker = false;
    c.members(|c, key| {
        if key == b"contents" && !linker {
            linker = true;
            elements(c, sink, delivered)
        } else {
            c.value(None, 0)
        }
    })?;
    c.ws();
    c.at_end().then_some(linker)
}

/// The `contents` array: each element delivered as soon as it is read.
fn elements(
    c: &mut Cursor<'_>,
    sink: &mut dyn FnMut(Delivery),
    delivered: &mut usize,
) -> Option<()> {
    c.eat(b'[')?;
    c.ws();
    if c.peek() == Some(b']') {
        c.bump();
        return Some(());
    }
    // The previous element's payload as GAMA wrote it, and its delivery: the same payload for
    // the next player (a world sent to each player alike) is compared, not read again, and its
    // frame is shared.
    let mut previous: Option<(&[u8], Delivery)> = None;
    loop {
        c.ws();
        c.eat(b'{')?;
        let mut players: Option<Vec<String>> = None;
        let mut payload: Option<Payload> = None;
        c.members(|c, key| match key {
            b"id" => {
                players = Some(ids(c)?);
                Some(())
            }
            b"contents" => {
                payload = Some(read_payload(c, previous.as_ref())?);
                Some(())
            }
            _ => c.value(None, 0),
        })?;
        // An element without both is the general path's to report.
        let delivery = match payload? {
            Payload::Same => {
                let (_, earlier) = previous.as_ref()?;
                Delivery {
                    players: players?,
                    frame: earlier.frame.clone(),
                    kind: earlier.kind,
                }
            }
            Payload::New { raw, frame } => {
                let delivery = Delivery::new(players?, frame);
                previous = Some((raw, delivery.clone()));
                delivery
            }
        };
        sink(delivery);
        *delivered += 1;
        c.ws();
        match c.peek()? {
            b',' => c.bump(),
            b']' => {
                c.bump();
                return Some(());
            }
            _ => return None,
        }
    }
}

/// An element's payload: the previous element's again, or a new one (its text as GAMA wrote it,
/// and its `json_output` frame).
enum Payload<'a> {
    Same,
    New { raw: &'a [u8], frame: Vec<u8> },
}

/// Reads an element's `contents`.
fn read_payload<'a>(
    c: &mut Cursor<'a>,
    previous: Option<&(&[u8], Delivery)>,
) -> Option<Payload<'a>> {
    c.ws();
    // An object or array ends with its own closing bracket: the same bytes are the same value.
    if let Some((raw, _)) = previous
        && !raw.is_empty()
        && c.rest().starts_with(raw)
    {
        c.skip(raw.len());
        return Some(Payload::Same);
    }
    let rest = c.rest();
    let mut frame = Vec::with_capacity(256);
    frame.extend_from_slice(FRAME_PREFIX);
    c.copy_value(&mut frame)?;
    frame.extend_from_slice(FRAME_SUFFIX);
    let read = rest.len() - c.rest().len();
    let raw = &rest[..read];
    // Only containers are compared (a number's text may go on: `12` then `123`).
    let container = matches!(raw.first(), Some(b'{' | b'['));
    Some(Payload::New {
        raw: if container { raw } else { &[] },
        frame,
    })
}

/// `id`: a list of plain strings (or one string).
fn ids(c: &mut Cursor<'_>) -> Option<Vec<String>> {
    if c.at_quote() {
        return Some(vec![utf8(c.plain_string()?)?]);
    }
    c.eat(b'[')?;
    let mut out = Vec::new();
    c.ws();
    if c.peek() == Some(b']') {
        c.bump();
        return Some(out);
    }
    loop {
        c.ws();
        out.push(utf8(c.plain_string()?)?);
        c.ws();
        match c.peek()? {
            b',' => c.bump(),
            b']' => {
                c.bump();
                return Some(out);
            }
            _ => return None,
        }
    }
}

fn utf8(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, escaped: bool) -> (Scanned, Vec<(Vec<String>, String)>) {
        let mut got = Vec::new();
        let r = scan(input.as_bytes(), escaped, &mut |d| {
            got.push((d.players, d.frame.as_str().to_string()))
        });
        (r, got)
    }

    /// The text between the quotes of `doc` written as a JSON string.
    fn escape(doc: &str) -> String {
        let s = serde_json::to_string(doc).unwrap();
        s[1..s.len() - 1].to_string()
    }

    const DOC: &str = r#"{"contents":[{"id":["P1"],"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}},{"id":["P1","P2"],"contents":{"enableMove":false,"s":"a \"q\" \\ é\n","n":null,"x":[-0,1.5E3,2e-7]}}],"type":"output"}"#;

    #[test]
    fn raw_and_escaped_documents_give_the_reference_frames() {
        let expected = vec![
            (
                vec!["P1".to_string()],
                r#"{"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100},"type":"json_output"}"#.to_string(),
            ),
            (
                vec!["P1".to_string(), "P2".to_string()],
                r#"{"contents":{"enableMove":false,"s":"a \"q\" \\ é\n","n":null,"x":[0,1500,2e-7]},"type":"json_output"}"#.to_string(),
            ),
        ];
        assert_eq!(run(DOC, false), (Scanned::Linker(2), expected.clone()));
        assert_eq!(run(&escape(DOC), true), (Scanned::Linker(2), expected));
        // Pretty-printed, with the whitespace escaped too.
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(DOC).unwrap())
                .unwrap();
        assert!(matches!(run(&escape(&pretty), true).0, Scanned::Linker(2)));
    }

    #[test]
    fn the_same_payload_for_the_next_player_is_not_read_again_and_shares_its_frame() {
        let doc = r#"{"contents":[{"id":["A"],"contents":{"w":[1,2.5]}},{"id":["B"],"contents":{"w":[1,2.5]}},{"id":["C"],"contents":{"w":[1,2.50]}},{"id":["D"],"contents":7},{"id":["E"],"contents":71}]}"#;
        for (input, escaped) in [(doc.to_string(), false), (escape(doc), true)] {
            let mut got = Vec::new();
            let r = scan(input.as_bytes(), escaped, &mut |d| got.push(d));
            assert_eq!(r, Scanned::Linker(5));
            let texts: Vec<&str> = got.iter().map(|d| d.frame.as_str()).collect();
            let w = r#"{"contents":{"w":[1,2.5]},"type":"json_output"}"#;
            assert_eq!(
                texts,
                [
                    w,
                    w,
                    w,
                    r#"{"contents":7,"type":"json_output"}"#,
                    r#"{"contents":71,"type":"json_output"}"#
                ]
            );
            // A and B share one frame; C's text differs (2.50), so it was read on its own.
            assert_eq!(
                got[0].frame.as_str().as_ptr(),
                got[1].frame.as_str().as_ptr()
            );
            assert_ne!(
                got[1].frame.as_str().as_ptr(),
                got[2].frame.as_str().as_ptr()
            );
            assert_eq!(got[1].players, ["B"]);
        }
    }

    #[test]
    fn it_stops_where_the_general_path_must_take_over() {
        // An id that is a number: delivered elements before it are counted.
        let doc = r#"{"contents":[{"id":["A"],"contents":{}},{"id":[7],"contents":{}},{"id":["B"],"contents":{}}]}"#;
        assert_eq!(run(doc, false).0, Scanned::Stopped(1));
        // Not linker output.
        assert_eq!(
            run(r#"{"message":"hi","color":{}}"#, false).0,
            Scanned::Stopped(0)
        );
        // Escaped non-ASCII in GAMA's string: the general path decodes it.
        assert_eq!(
            run(
                r#"{\"contents\":[{\"id\":[\"A\"],\"contents\":{\"n\":\"\u00e9\"}}]}"#,
                true
            )
            .0,
            Scanned::Stopped(0)
        );
        // A raw quote inside escaped text is not a valid string.
        assert_eq!(
            run(
                r#"{\"contents\":[{\"id\":[\"A\"],\"contents\":{\"n\":\"a"b\"}}]}"#,
                true
            )
            .0,
            Scanned::Stopped(0)
        );
        // Trailing garbage.
        assert!(matches!(
            run(r#"{"contents":[]} x"#, false).0,
            Scanned::Stopped(0)
        ));
    }

    #[test]
    fn scanner_and_reference_agree_on_payloads() {
        // The payload writer is json::Cursor; the frames above are what json::write_js writes.
        let mut reference = Vec::new();
        crate::protocol::json::write_js(r#"{"x":[-0,1.5E3,2e-7]}"#, &mut reference).unwrap();
        assert_eq!(reference, br#"{"x":[0,1500,2e-7]}"#);
    }
}
