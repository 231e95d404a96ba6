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

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        let mut out = b"x=".to_vec();
        write_str(&mut out, "é\"");
        assert_eq!(String::from_utf8(out).unwrap(), "x=\"é\\\"\"");
    }
}
