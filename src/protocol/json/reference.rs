//! The reference writer: `serde_json`'s parser streamed into its serializer, numbers printed by
//! [`JsFormatter`]. Slower than the scanner but it takes any JSON, so it is the scanner's fallback
//! and what the fuzz target checks the scanner against. The string-literal helpers the crate writes
//! its own messages with live here too: they are `serde_json`'s escaping as well.

use serde::de::Deserializer;

use super::JsFormatter;

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
    use super::super::tests::js;
    use super::*;

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
