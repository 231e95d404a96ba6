//! [`Cursor::value`]: one value read and, when asked, written back the JavaScript way, one call
//! per value. The linker's parser steps over the values it does not need with it, and the fast copy
//! ([`super::copy`]) hands it the strings with escapes of their own.

use super::{Cursor, MAX_DEPTH};
use crate::protocol::json::number::number_token;
use crate::protocol::json::write_str;

impl Cursor<'_> {
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

    pub(super) fn string(&mut self, out: Option<&mut Vec<u8>>) -> Option<()> {
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
