//! [`Cursor::copy_value`]: the hot path's copy of one value, which keeps a run of bytes to copy
//! and rewrites only what must change. It writes what [`Cursor::value`] writes, faster: one loop
//! with its own stack of containers, no call per value.

use super::{Cursor, MAX_DEPTH};
use crate::protocol::json::number::{digit_run, number_token};

impl Cursor<'_> {
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
}
