//! JSON re-serialisation with JavaScript's rules, in one streaming pass.
//!
//! Unity apps were built against the reference middleware, which `JSON.parse`d GAMA's output and
//! `JSON.stringify`d it again. Two effects of that round trip matter to Unity: object keys keep their
//! order (Unity routes a message on its first key) and numbers are printed the JavaScript way (`100.0`
//! becomes `100`, which Unity's `JsonUtility` can then read into an `int`). [`JsFormatter`] gives
//! `serde_json`'s serializer JavaScript's number format, and [`serde_transcode`] streams tokens from the
//! parser straight into it, so no tree is built and key order is kept without `preserve_order`.

use std::io;

use serde::de::{DeserializeSeed, Deserializer};
use serde_json::ser::Formatter;

/// `serde_json` formatter that prints numbers as `JSON.stringify` does.
///
/// Integers are printed exactly (JavaScript would round those above 2^53; GAMA sends none, and exact
/// is the better failure mode). Floating-point values use ECMAScript's `Number::toString`: integral
/// values lose their fraction, `-0` prints as `0`, exponents appear from 1e21 and below 1e-6.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        if value.is_finite() {
            let mut buf = ryu_js::Buffer::new();
            writer.write_all(buf.format_finite(value).as_bytes())
        } else {
            // JSON has no literal for these; JSON.stringify writes null. Parsed JSON never yields one.
            writer.write_all(b"null")
        }
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// The hot-path version of [`write_js`]: the same output, produced by a byte scanner instead of the
/// serde machinery. Strings without escapes and integers are copied as they are (they are what
/// most of a world update is made of); only floating-point numbers and escaped strings are
/// rewritten. Returns `false`, leaving `out` as it was, on anything it does not expect; callers
/// then use [`write_js`], which is the reference (a fuzz target checks the two agree).
pub fn normalize_js(input: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = Scanner {
        bytes: input.as_bytes(),
        text: input,
        pos: 0,
        out,
    }
    .document();
    if !ok {
        out.truncate(start);
    }
    ok
}

/// Nesting deeper than serde_json accepts is left to [`write_js`] (which refuses it too).
const MAX_DEPTH: usize = 127;

struct Scanner<'a, 'o> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    out: &'o mut Vec<u8>,
}

impl Scanner<'_, '_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn document(mut self) -> bool {
        self.skip_ws();
        if !self.value(0) {
            return false;
        }
        self.skip_ws();
        self.pos == self.bytes.len()
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.bytes.get(self.pos) {
            Some(b'{') => self.container(depth, b'}', true),
            Some(b'[') => self.container(depth, b']', false),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn container(&mut self, depth: usize, close: u8, object: bool) -> bool {
        self.out.push(self.bytes[self.pos]);
        self.pos += 1;
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&close) {
            self.out.push(close);
            self.pos += 1;
            return true;
        }
        loop {
            if object {
                if self.bytes.get(self.pos) != Some(&b'"') || !self.string() {
                    return false;
                }
                self.skip_ws();
                if self.bytes.get(self.pos) != Some(&b':') {
                    return false;
                }
                self.out.push(b':');
                self.pos += 1;
                self.skip_ws();
            }
            if !self.value(depth + 1) {
                return false;
            }
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.out.push(b',');
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(&c) if c == close => {
                    self.out.push(close);
                    self.pos += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.bytes[self.pos..].starts_with(word) {
            self.out.extend_from_slice(word);
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> bool {
        let body = self.pos + 1;
        let Some(offset) = memchr::memchr2(b'"', b'\\', &self.bytes[body..]) else {
            return false;
        };
        let end = body + offset;
        let raw = &self.bytes[body..end];
        if self.bytes[end] == b'"' {
            // No escape: JSON.stringify writes it back the same, unless it holds a raw control
            // character, which JSON does not allow.
            if raw.iter().any(|&b| b < 0x20) {
                return false;
            }
            self.out.extend_from_slice(&self.bytes[self.pos..=end]);
            self.pos = end + 1;
            return true;
        }
        // Escapes: find the closing quote, decode, and write back with JavaScript's escaping
        // (rare in GAMA's output).
        let mut i = end;
        loop {
            match self.bytes.get(i) {
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
                None => return false,
            }
        }
        let Ok(decoded) = serde_json::from_str::<String>(&self.text[self.pos..=i]) else {
            return false;
        };
        write_str(self.out, &decoded);
        self.pos = i + 1;
        true
    }

    fn number(&mut self) -> bool {
        let start = self.pos;
        let mut float = false;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => float = true,
                _ => break,
            }
            self.pos += 1;
        }
        let token = &self.text[start..self.pos];
        if !valid_number(token.as_bytes()) {
            return false;
        }
        if !float {
            // Integers serde_json holds (i64/u64) are printed as they are; "-0" is 0 in JavaScript.
            if token.parse::<u64>().is_ok() || token.parse::<i64>().is_ok() {
                if token == "-0" {
                    self.out.push(b'0');
                } else {
                    self.out.extend_from_slice(token.as_bytes());
                }
                return true;
            }
        }
        match token.parse::<f64>() {
            Ok(v) if v.is_finite() => {
                let mut buf = ryu_js::Buffer::new();
                self.out.extend_from_slice(
                    buf.format_finite(if v == 0.0 { 0.0 } else { v }).as_bytes(),
                );
                true
            }
            // Out of range for a double: serde_json refuses it; leave it to the reference path.
            _ => false,
        }
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`.
fn valid_number(t: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while t.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if t.first() == Some(&b'-') {
        i += 1;
    }
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if let Some(b'e' | b'E') = t.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = t.get(i) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == t.len()
}

/// Re-serialises a JSON document with JavaScript's rules, appending to `out`.
pub fn write_js(input: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(input);
    transcode_into(&mut de, out)?;
    de.end()
}

/// Re-serialises whatever `deserializer` yields next into `out` with JavaScript's rules.
pub fn transcode_into<'de, D: Deserializer<'de>>(
    deserializer: D,
    out: &mut Vec<u8>,
) -> Result<(), D::Error> {
    let mut ser = serde_json::Serializer::with_formatter(out, JsFormatter);
    serde_transcode::transcode(deserializer, &mut ser).map_err(serde::de::Error::custom)
}

/// A [`DeserializeSeed`] that re-serialises the value it is given into a buffer, so a payload nested in
/// a larger document is normalised during the one parse of that document.
pub struct TranscodeSeed<'b>(pub &'b mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for TranscodeSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        transcode_into(deserializer, self.0)
    }
}

/// Writes `text` as a JSON string literal (quotes included).
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    // Serialising a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// `text` as a JSON string literal.
pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(input: &str) -> String {
        let mut out = Vec::new();
        write_js(input, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_are_printed_like_json_stringify() {
        assert_eq!(js("100.0"), "100");
        assert_eq!(js("-0.0"), "0");
        assert_eq!(js("0.0"), "0");
        assert_eq!(js("1.5"), "1.5");
        assert_eq!(js("1.0E-4"), "0.0001");
        assert_eq!(js("1.0E-7"), "1e-7");
        assert_eq!(js("1.0E21"), "1e+21");
        assert_eq!(js("123456789012345680000.0"), "123456789012345680000");
        assert_eq!(js("0.1"), "0.1");
        assert_eq!(js("2.5e3"), "2500");
        assert_eq!(js("-251234"), "-251234");
        assert_eq!(js("9007199254740993"), "9007199254740993");
        assert_eq!(js("100"), "100");
    }

    #[test]
    fn key_order_and_strings_survive() {
        let input = r#"{ "precision" : 10000, "world":[1000000,800000], "minPlayerUpdateDuration":100.0,
            "name":"caf\u00e9 \"q\" \/ \n","a":{"z":1,"b":[true,false,null]}}"#;
        assert_eq!(
            js(input),
            r#"{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100,"name":"café \"q\" / \n","a":{"z":1,"b":[true,false,null]}}"#
        );
    }

    #[test]
    fn control_characters_use_javascript_escapes() {
        assert_eq!(js(r#""\u0001\b\f\t\r""#), r#""\u0001\b\f\t\r""#);
        assert_eq!(js("\"\u{2028}\""), "\"\u{2028}\"");
    }

    #[test]
    fn invalid_json_is_an_error() {
        let mut out = Vec::new();
        assert!(write_js("{\"a\":", &mut out).is_err());
        assert!(write_js("{} trailing", &mut Vec::new()).is_err());
    }

    /// The fast scanner and the reference agree (more of this in fuzz/fuzz_targets/js_json.rs).
    #[test]
    fn the_fast_path_writes_what_the_reference_writes() {
        for input in [
            "100.0",
            "-0",
            "-0.0",
            "0",
            "1.0E-4",
            "1.0E-7",
            "1.0E21",
            "12345678901234567890",
            "-9223372036854775808",
            "18446744073709551615",
            r#"{ "precision" : 10000, "world":[1000000,800000], "minPlayerUpdateDuration":100.0,
            "name":"caf\u00e9 \"q\" \/ \n","a":{"z":1,"b":[true,false,null]},"e":{},"f":[ ]}"#,
            r#""\ud83d\ude00 \t""#,
            "[1e5, 2.50, -3.0e-2]",
        ] {
            let mut reference = Vec::new();
            write_js(input, &mut reference).unwrap();
            let mut fast = Vec::new();
            assert!(normalize_js(input, &mut fast), "{input}");
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(reference).unwrap(),
                "{input}"
            );
        }
        for bad in [
            "01", "1.", "-", "[1,]", "{\"a\"}", "tru", "\"\u{1}", "1e400", "[1] 2", "\"a\tb\"",
        ] {
            let mut out = b"kept".to_vec();
            assert!(!normalize_js(bad, &mut out), "{bad}");
            assert_eq!(out, b"kept");
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        let mut out = b"x=".to_vec();
        write_str(&mut out, "é\"");
        assert_eq!(String::from_utf8(out).unwrap(), "x=\"é\\\"\"");
    }
}
