//! JSON re-serialisation with JavaScript's rules.
//!
//! Unity apps were built against the reference middleware, which `JSON.parse`d GAMA's output and
//! `JSON.stringify`d it again. Two effects of that round trip matter to Unity: object keys keep their
//! order (Unity routes a message on its first key) and numbers are printed the JavaScript way (`100.0`
//! becomes `100`, which Unity's `JsonUtility` can then read into an `int`).
//!
//! Two writers give the same bytes:
//!
//! * [`Cursor`], the hot path's byte scanner: strings without escapes and integers are copied as
//!   they are (they are what most of a world update is made of), only floating-point numbers and
//!   escaped strings are rewritten. It reads plain JSON, or JSON written inside a JSON string as
//!   GAMA sends the linker's output (`{\"a\":1}`), without unescaping it first. On anything it does
//!   not expect it gives up and says so.
//! * [`write_js`], the reference: `serde_json`'s parser streamed into its serializer with
//!   [`JsFormatter`] (JavaScript's number format) by [`serde_transcode`], so no tree is built and
//!   key order is kept. It is what the scanner falls back on, and what a fuzz target checks the
//!   scanner against.

use std::io;

use serde::de::Deserializer;
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

/// [`write_js`] by the byte scanner: the same output, or `false` (leaving `out` as it was) where the
/// scanner gives up; callers then use [`write_js`].
pub fn normalize_js(input: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut cursor = Cursor::new(input.as_bytes(), false);
    let ok = cursor.copy_value(out).is_some() && {
        cursor.ws();
        cursor.at_end()
    };
    if !ok {
        out.truncate(start);
    }
    ok
}

/// As deep as serde_json goes.
const MAX_DEPTH: usize = 127;

/// A position in JSON text, plain or escaped inside a JSON string, that reads (and optionally
/// re-serialises) one value at a time. Every method returns `None` where the text is not what the
/// scanner handles, leaving the rest to the caller's general path.
#[derive(Debug)]
pub struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    /// The text is a JSON string's content: `\"` is a quote of the inner document.
    esc: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`; with `escaped`, `b` is the content of a JSON string.
    pub fn new(b: &'a [u8], escaped: bool) -> Self {
        Cursor {
            b,
            pos: 0,
            esc: escaped,
        }
    }

    /// The next byte.
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Steps over the byte just peeked.
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// The text from here to the end of the input.
    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.pos..]
    }

    /// Steps over `n` bytes of [`Cursor::rest`].
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.b.len());
    }

    /// Whether the document is over: the end of the text, or of the enclosing string.
    pub fn at_end(&self) -> bool {
        self.pos == self.b.len() || (self.esc && self.peek() == Some(b'"'))
    }

    /// Skips whitespace, which escaped text may write as `\n`, `\t`, `\r`.
    pub fn ws(&mut self) {
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

    /// Whether a string starts here.
    pub fn at_quote(&self) -> bool {
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
    pub fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    /// The members of an object whose `{` was read, calling `member` with each key once the
    /// cursor is at its value (keys must be plain strings).
    pub fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
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

    /// A string without escapes of its own, as its raw bytes.
    pub fn plain_string(&mut self) -> Option<&'a [u8]> {
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
        let b = self.b;
        // Keys and names are short: byte by byte is faster than setting up a search.
        let mut i = start;
        let short = (start + 32).min(b.len());
        while i < short {
            match b[i] {
                b'\\' => return (self.esc && b.get(i + 1) == Some(&b'"')).then_some(i),
                b'"' => return (!self.esc).then_some(i),
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
        let rest = &b[i..];
        let at = if self.esc {
            memchr::memchr(b'\\', rest)?
        } else {
            memchr::memchr2(b'"', b'\\', rest)?
        };
        let end = i + at;
        let closes = if self.esc {
            b.get(end + 1) == Some(&b'"')
        } else {
            b[end] == b'"'
        };
        // A raw quote inside escaped text would end GAMA's string; control characters are not JSON.
        let clean = !rest[..at]
            .iter()
            .any(|&c| c < 0x20 || (self.esc && c == b'"'));
        (closes && clean).then_some(end)
    }

    /// One value, appended to `out` the JavaScript way when there is an `out`.
    pub fn value(&mut self, mut out: Option<&mut Vec<u8>>, depth: usize) -> Option<()> {
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

    /// One value appended to `out` the JavaScript way: what [`Cursor::value`] writes, faster.
    ///
    /// Most of a world update is copied as it is (integers, plain strings, structure), so this
    /// keeps a run of bytes to copy and extends `out` only where the text must change: an outer
    /// escaped quote, whitespace, a floating-point number, `-0`, a string with escapes of its own.
    /// One loop over the containers with their own stack, no call per value.
    pub fn copy_value(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut open = [0u8; MAX_DEPTH + 1];
        let mut depth = 0usize;
        let mut run = self.pos;
        'value: loop {
            // A value is expected.
            if depth > MAX_DEPTH {
                return None;
            }
            self.skip_ws(out, &mut run);
            match self.peek()? {
                b'{' | b'[' => {
                    let c = self.b[self.pos];
                    self.pos += 1;
                    self.skip_ws(out, &mut run);
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        open[depth] = c;
                        depth += 1;
                        if c == b'{' {
                            self.copy_key(out, &mut run)?;
                        }
                        continue 'value;
                    }
                }
                b'"' if !self.esc => self.copy_string(out, &mut run)?,
                b'\\' if self.esc => self.copy_string(out, &mut run)?,
                b't' => self.skip_literal(b"true")?,
                b'f' => self.skip_literal(b"false")?,
                b'n' => self.skip_literal(b"null")?,
                b'-' | b'0'..=b'9' => self.copy_number(out, &mut run)?,
                _ => return None,
            }
            // After a value: the next one in its container, or the container's end.
            loop {
                if depth == 0 {
                    out.extend_from_slice(&self.b[run..self.pos]);
                    return Some(());
                }
                self.skip_ws(out, &mut run);
                let top = open[depth - 1];
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if top == b'{' {
                            self.copy_key(out, &mut run)?;
                        }
                        continue 'value;
                    }
                    b'}' if top == b'{' => self.pos += 1,
                    b']' if top == b'[' => self.pos += 1,
                    _ => return None,
                }
                depth -= 1;
            }
        }
    }

    /// Skips whitespace, which the output leaves out: the run so far is copied first.
    #[inline(always)]
    fn skip_ws(&mut self, out: &mut Vec<u8>, run: &mut usize) {
        // Compact JSON (what GAMA writes) has none: one test.
        match self.peek() {
            Some(c) if c <= b' ' => self.skip_ws_slow(out, run),
            Some(b'\\')
                if self.esc && matches!(self.b.get(self.pos + 1), Some(b'n' | b't' | b'r')) =>
            {
                self.skip_ws_slow(out, run)
            }
            _ => {}
        }
    }

    #[cold]
    fn skip_ws_slow(&mut self, out: &mut Vec<u8>, run: &mut usize) {
        let ws = match self.peek() {
            Some(b' ') => true,
            Some(b'\t' | b'\n' | b'\r') => !self.esc,
            Some(b'\\') => self.esc && matches!(self.b.get(self.pos + 1), Some(b'n' | b't' | b'r')),
            _ => false,
        };
        if ws {
            out.extend_from_slice(&self.b[*run..self.pos]);
            self.ws();
            *run = self.pos;
        }
    }

    /// An object's key and its colon.
    fn copy_key(&mut self, out: &mut Vec<u8>, run: &mut usize) -> Option<()> {
        self.skip_ws(out, run);
        self.copy_string(out, run)?;
        self.skip_ws(out, run);
        (self.peek() == Some(b':')).then(|| self.pos += 1)
    }

    /// A string: plain text is part of the run (its escaped quotes written as quotes); one with
    /// escapes of its own is rewritten by [`Cursor::string`].
    fn copy_string(&mut self, out: &mut Vec<u8>, run: &mut usize) -> Option<()> {
        if !self.at_quote() {
            return None;
        }
        let start = self.pos + self.quote_len();
        match self.plain_end(start) {
            Some(end) if !self.esc => self.pos = end + 1,
            Some(end) => {
                out.extend_from_slice(&self.b[*run..self.pos]);
                out.push(b'"');
                out.extend_from_slice(&self.b[start..end]);
                out.push(b'"');
                self.pos = end + 2;
                *run = self.pos;
            }
            None => {
                out.extend_from_slice(&self.b[*run..self.pos]);
                self.string(Some(out))?;
                *run = self.pos;
            }
        }
        Some(())
    }

    fn skip_literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    /// A number: an integer as it is (part of the run), anything else rewritten.
    #[inline(always)]
    fn copy_number(&mut self, out: &mut Vec<u8>, run: &mut usize) -> Option<()> {
        let b = self.b;
        let start = self.pos;
        let digits = start + usize::from(b[start] == b'-');
        let i = digits + digit_run(b, digits);
        let count = i - digits;
        let integer = (1..=18).contains(&count)
            && (b[digits] != b'0' || count == 1)
            && !matches!(b.get(i), Some(b'.' | b'e' | b'E' | b'+' | b'-'));
        if integer && !(i - start == 2 && b[start] == b'-' && b[digits] == b'0') {
            self.pos = i;
            return Some(());
        }
        self.rewrite_number(out, run, integer, i)
    }

    #[cold]
    fn rewrite_number(
        &mut self,
        out: &mut Vec<u8>,
        run: &mut usize,
        integer: bool,
        mut i: usize,
    ) -> Option<()> {
        let b = self.b;
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(i) {
            i += 1;
        }
        out.extend_from_slice(&b[*run..start]);
        self.pos = i;
        *run = i;
        if integer {
            // `-0` is 0 in JavaScript.
            out.push(b'0');
            Some(())
        } else {
            number_token(&b[start..i], out)
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
        match out {
            Some(o) => number_token(&b[start..i], o),
            None => number_token(&b[start..i], &mut Vec::new()),
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
        // written back the JavaScript way (rare in GAMA's output).
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
            write_str(o, &decoded);
        }
        self.pos = i;
        Some(())
    }
}

/// How many ASCII digits `b` has from `i` on: eight bytes at a time (a coordinate is 4 to 7
/// digits, so one step and no mispredicted loop exit for most numbers).
#[inline(always)]
fn digit_run(b: &[u8], mut i: usize) -> usize {
    let start = i;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A digit becomes 0..=9 once xored with '0': no bit above the low nibble, even plus 6. A
        // carry out of a non-digit byte only reaches later bytes, after the first non-digit.
        let t = x ^ 0x3030_3030_3030_3030;
        let non_digits = (t | t.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0;
        if non_digits != 0 {
            return i + (non_digits.trailing_zeros() / 8) as usize - start;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i - start
}

/// One byte of the inner document from escaped text at `i`, and where the next one starts.
/// `\uXXXX` escapes (non-ASCII characters written by GAMA's JSON writer) are left to the general
/// path: the scanner gives up on them.
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

/// A number token (not a plain integer of 18 digits or fewer) written the JavaScript way.
fn number_token(token: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !valid_number(token) {
        return None;
    }
    let text = std::str::from_utf8(token).ok()?;
    let float = token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    // Integers serde_json holds (i64/u64) are printed as they are; "-0" is 0 in JavaScript.
    if !float && (text.parse::<u64>().is_ok() || text.parse::<i64>().is_ok()) {
        if text == "-0" {
            out.push(b'0');
        } else {
            out.extend_from_slice(token);
        }
        return Some(());
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            let mut buf = ryu_js::Buffer::new();
            out.extend_from_slice(buf.format_finite(if v == 0.0 { 0.0 } else { v }).as_bytes());
            Some(())
        }
        // Out of range for a double: serde_json refuses it; leave it to the reference path.
        _ => None,
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
fn transcode_into<'de, D: Deserializer<'de>>(
    deserializer: D,
    out: &mut Vec<u8>,
) -> Result<(), D::Error> {
    let mut ser = serde_json::Serializer::with_formatter(out, JsFormatter);
    serde_transcode::transcode(deserializer, &mut ser).map_err(serde::de::Error::custom)
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

    #[test]
    fn digit_runs_end_at_the_first_non_digit() {
        for text in [
            "",
            "0",
            "12345678",
            "123456789",
            "1234567,9",
            "9/",
            ":9",
            "12345678901234567890]",
        ] {
            let expected = text.bytes().take_while(u8::is_ascii_digit).count();
            assert_eq!(digit_run(text.as_bytes(), 0), expected, "{text}");
        }
        // Every byte value around the digits, at every position of a chunk.
        for c in 0..=255u8 {
            for at in 0..9 {
                let mut text = vec![b'5'; 12];
                text[at] = c;
                let expected = text.iter().take_while(|b| b.is_ascii_digit()).count();
                assert_eq!(digit_run(&text, 0), expected, "{c} at {at}");
            }
        }
    }

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
