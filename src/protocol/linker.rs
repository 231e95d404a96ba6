//! The hot path's reader of linker output: one pass over the `SimulationOutput` content, straight
//! from the escaped string GAMA sends, producing each element's `json_output` frame as it goes.
//!
//! GAMA sends the linker's JSON inside a JSON string (protocol.md §4.4). The straightforward way
//! (unescape the string, parse the document, re-serialise each payload) reads every byte three
//! times and copies the whole document once; for a classroom's 130 KB output or a 13 MB initial
//! world that is most of the relay's latency. This scanner reads the escaped text once: an escaped
//! quote `\"` is a quote of the inner document, plain runs are copied as they are, integers are
//! copied, and only floating-point numbers and strings with escapes of their own are rewritten (the
//! way JavaScript's `JSON.stringify` writes them, as in [`crate::json`]).
//!
//! It handles the shapes GAMA writes; anything unusual (an id that is not a string, a lone
//! surrogate, a number out of range…) makes it stop and say how many elements it delivered, and
//! the general serde path (in [`super::gama`]) takes over from there, so nothing is delivered
//! twice and nothing is lost. A fuzz target checks both paths give the same frames.

use super::gama::Delivery;
use crate::json;

const FRAME_PREFIX: &[u8] = b"{\"contents\":";
const FRAME_SUFFIX: &[u8] = b",\"type\":\"json_output\"}";
/// As deep as serde_json goes.
const MAX_DEPTH: usize = 127;

/// How far the fast path got.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// A linker output, entirely delivered: this many elements.
    Linker(usize),
    /// Not what the fast path handles; this many elements were delivered before it stopped.
    Stopped(usize),
}

/// Reads the linker document in `input` and hands each element to `sink`. With `escaped`, `input`
/// is the text of the `content` string after its opening quote: the document ends at the string's
/// closing quote or at the end of `input`, whatever follows is not looked at. Otherwise `input` is
/// the JSON object itself.
pub fn scan(input: &[u8], escaped: bool, sink: &mut dyn FnMut(Delivery)) -> Scanned {
    let mut s = Scan {
        b: input,
        pos: 0,
        esc: escaped,
    };
    let mut delivered = 0;
    match s.document(sink, &mut delivered) {
        Some(true) => Scanned::Linker(delivered),
        _ => Scanned::Stopped(delivered),
    }
}

struct Scan<'a> {
    b: &'a [u8],
    pos: usize,
    esc: bool,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Skips the inner document's whitespace, which escaped text may write as `\n`, `\t`, `\r`.
    fn ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b'\t' | b'\n' | b'\r') if !self.esc => self.pos += 1,
                Some(b'\\') if self.esc => match self.b.get(self.pos + 1) {
                    Some(b'n' | b't' | b'r') => self.pos += 2,
                    _ => return,
                },
                _ => return,
            }
        }
    }

    fn at_quote(&self) -> bool {
        if self.esc {
            self.peek() == Some(b'\\') && self.b.get(self.pos + 1) == Some(&b'"')
        } else {
            self.peek() == Some(b'"')
        }
    }

    fn quote_len(&self) -> usize {
        if self.esc { 2 } else { 1 }
    }

    /// Expects one structural byte after whitespace.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    /// The whole document: `Some(true)` when it was linker output.
    fn document(&mut self, sink: &mut dyn FnMut(Delivery), delivered: &mut usize) -> Option<bool> {
        self.eat(b'{')?;
        let mut linker = false;
        self.members(|s, key| {
            if key == b"contents" && !linker {
                linker = true;
                s.elements(sink, delivered)
            } else {
                s.value(None, 0)
            }
        })?;
        self.ws();
        let end = self.pos == self.b.len() || (self.esc && self.peek() == Some(b'"'));
        end.then_some(linker)
    }

    /// The members of an object whose `{` was read, calling `member` with each key once the
    /// parser is at its value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.ws();
            let key = self.plain_string()?;
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The `contents` array: each element delivered as soon as it is read.
    fn elements(&mut self, sink: &mut dyn FnMut(Delivery), delivered: &mut usize) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.ws();
            self.eat(b'{')?;
            let mut players: Option<Vec<String>> = None;
            let mut frame: Option<Vec<u8>> = None;
            self.members(|s, key| match key {
                b"id" => {
                    players = Some(s.ids()?);
                    Some(())
                }
                b"contents" => {
                    let mut buf = Vec::with_capacity(256);
                    buf.extend_from_slice(FRAME_PREFIX);
                    s.value(Some(&mut buf), 0)?;
                    buf.extend_from_slice(FRAME_SUFFIX);
                    frame = Some(buf);
                    Some(())
                }
                _ => s.value(None, 0),
            })?;
            // An element without both is the general path's to report.
            sink(Delivery::from_parts(players?, frame?));
            *delivered += 1;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `id`: a list of plain strings (or one string).
    fn ids(&mut self) -> Option<Vec<String>> {
        if self.at_quote() {
            return Some(vec![utf8(self.plain_string()?)?]);
        }
        self.eat(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(out);
        }
        loop {
            self.ws();
            out.push(utf8(self.plain_string()?)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes of its own, as its raw bytes (keys and ids; anything else is left
    /// to the general path).
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        if !self.at_quote() {
            return None;
        }
        let b = self.b;
        let start = self.pos + self.quote_len();
        let end = self.plain_end(start)?;
        self.pos = end + self.quote_len();
        Some(&b[start..end])
    }

    /// Where a string starting at `start` ends if it has no escape of its own.
    fn plain_end(&self, start: usize) -> Option<usize> {
        let rest = &self.b[start..];
        let i = if self.esc {
            memchr::memchr(b'\\', rest)?
        } else {
            memchr::memchr2(b'"', b'\\', rest)?
        };
        let end = start + i;
        let closes = if self.esc {
            self.b.get(end + 1) == Some(&b'"')
        } else {
            self.b[end] == b'"'
        };
        // A raw quote inside escaped text would end GAMA's string; control characters are not JSON.
        let clean = !rest[..i]
            .iter()
            .any(|&c| c < 0x20 || (self.esc && c == b'"'));
        (closes && clean).then_some(end)
    }

    fn value(&mut self, mut out: Option<&mut Vec<u8>>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        if self.at_quote() {
            return self.string(out);
        }
        match self.peek()? {
            c @ (b'{' | b'[') => {
                let close = if c == b'{' { b'}' } else { b']' };
                self.pos += 1;
                if let Some(o) = out.as_deref_mut() {
                    o.push(c);
                }
                self.ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    if let Some(o) = out {
                        o.push(close);
                    }
                    return Some(());
                }
                loop {
                    if c == b'{' {
                        self.ws();
                        self.string(out.as_deref_mut())?;
                        self.eat(b':')?;
                        if let Some(o) = out.as_deref_mut() {
                            o.push(b':');
                        }
                    }
                    self.value(out.as_deref_mut(), depth + 1)?;
                    self.ws();
                    let next = self.peek()?;
                    self.pos += 1;
                    if let Some(o) = out.as_deref_mut() {
                        o.push(next);
                    }
                    match next {
                        b',' => {}
                        n if n == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], out: Option<&mut Vec<u8>>) -> Option<()> {
        if !self.b[self.pos..].starts_with(word) {
            return None;
        }
        self.pos += word.len();
        if let Some(o) = out {
            o.extend_from_slice(word);
        }
        Some(())
    }

    fn number(&mut self, out: Option<&mut Vec<u8>>) -> Option<()> {
        let b = self.b;
        let start = self.pos;
        // Integers serde_json holds are copied as they are (most of a world update): one loop.
        let mut i = start + usize::from(b[start] == b'-');
        let digits = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let count = i - digits;
        let integer = (1..=18).contains(&count)
            && (b[digits] != b'0' || count == 1)
            && !matches!(b.get(i), Some(b'.' | b'e' | b'E' | b'+' | b'-'));
        if integer {
            self.pos = i;
            if let Some(o) = out {
                if i - start == 2 && b[start] == b'-' && b[digits] == b'0' {
                    o.push(b'0');
                } else {
                    o.extend_from_slice(&b[start..i]);
                }
            }
            return Some(());
        }
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(i) {
            i += 1;
        }
        self.pos = i;
        let token = std::str::from_utf8(&b[start..i]).ok()?;
        match out {
            Some(o) => json::normalize_js(token, o).then_some(()),
            None => json::normalize_js(token, &mut Vec::new()).then_some(()),
        }
    }

    fn string(&mut self, out: Option<&mut Vec<u8>>) -> Option<()> {
        if !self.at_quote() {
            return None;
        }
        let start = self.pos + self.quote_len();
        if let Some(end) = self.plain_end(start) {
            if let Some(o) = out {
                o.push(b'"');
                o.extend_from_slice(&self.b[start..end]);
                o.push(b'"');
            }
            self.pos = end + self.quote_len();
            return Some(());
        }
        // The string has escapes of its own: its literal (inner escapes kept), then decoded and
        // written back the JavaScript way.
        let mut literal = vec![b'"'];
        let mut i = start;
        if self.esc {
            let mut inner_escape = false;
            loop {
                let (c, next) = outer_char(self.b, i)?;
                i = next;
                if c == b'"' && !inner_escape {
                    break;
                }
                inner_escape = c == b'\\' && !inner_escape;
                literal.push(c);
            }
        } else {
            loop {
                match *self.b.get(i)? {
                    b'\\' => {
                        literal.extend_from_slice(self.b.get(i..i + 2)?);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        break;
                    }
                    c => {
                        literal.push(c);
                        i += 1;
                    }
                }
            }
        }
        literal.push(b'"');
        let decoded: String = serde_json::from_slice(&literal).ok()?;
        if let Some(o) = out {
            json::write_str(o, &decoded);
        }
        self.pos = i;
        Some(())
    }
}

/// One byte of the inner document from escaped text at `i`, and where the next one starts.
/// `\uXXXX` escapes of non-ASCII characters are decoded into their UTF-8 bytes one call at a time
/// by the general path instead: the fast path gives up on them.
fn outer_char(b: &[u8], i: usize) -> Option<(u8, usize)> {
    match *b.get(i)? {
        b'\\' => match *b.get(i + 1)? {
            b'"' => Some((b'"', i + 2)),
            b'\\' => Some((b'\\', i + 2)),
            b'/' => Some((b'/', i + 2)),
            _ => None,
        },
        b'"' => None,
        c if c < 0x20 => None,
        c => Some((c, i + 1)),
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
}
