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
//!
//! The parts: [`number`] prints numbers the JavaScript way (for both writers), [`reference`] is
//! the `serde_json` path and the string-literal helpers the rest of the crate writes messages
//! with, and [`cursor`] is the scanner: finding its way in the text, reading one value, and the
//! fast copy [`normalize_js`] runs.

mod cursor;
mod number;
mod reference;

pub use cursor::Cursor;
pub use number::JsFormatter;
pub use reference::{quote, write_js, write_str};

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

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` as [`write_js`] writes it.
    pub(super) fn js(input: &str) -> String {
        let mut out = Vec::new();
        write_js(input, &mut out).unwrap();
        String::from_utf8(out).unwrap()
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
}
