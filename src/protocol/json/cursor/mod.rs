//! The byte scanner's position in JSON text and how it finds its way: whitespace, structure,
//! plain strings. The linker's parser walks GAMA's messages with it; reading one value is in
//! [`value`] and the fast copy of one value in [`copy`], both on the same [`Cursor`].

mod copy;
mod value;

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
}
