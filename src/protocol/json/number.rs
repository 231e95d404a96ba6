//! Numbers the JavaScript way (`JSON.stringify`'s `100` for `100.0`, `0` for `-0`): the
//! formatter the reference writer prints with, and what the scanner needs to check a number token
//! and rewrite it to the same bytes. Kept together so both writers print numbers from one place.

use std::io;

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

/// How many ASCII digits `b` has from `i` on: eight bytes at a time (a coordinate is 4 to 7
/// digits, so one step and no mispredicted loop exit for most numbers).
#[inline(always)]
pub(super) fn digit_run(b: &[u8], mut i: usize) -> usize {
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

/// A number token (not a plain integer of 18 digits or fewer) written the JavaScript way.
pub(super) fn number_token(token: &[u8], out: &mut Vec<u8>) -> Option<()> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::js;
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
}
