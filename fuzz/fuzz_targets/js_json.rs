//! JavaScript-style re-serialisation agrees with a plain parse: same document, keys in the same
//! order, numbers equal as doubles (what JavaScript would see).
#![no_main]

use gama_vr_relay::fuzzing::{normalize_js, write_js};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut out = Vec::new();
    let mut fast = Vec::new();
    let fast_ok = normalize_js(text, &mut fast);
    match write_js(text, &mut out) {
        Ok(()) => {
            // The hot path's scanner writes exactly what the reference writes, or declines.
            if fast_ok {
                assert_eq!(fast, out, "{text}");
            }
            let original: Value = serde_json::from_str(text).expect("accepted input is JSON");
            let written = std::str::from_utf8(&out).expect("output is UTF-8");
            let reparsed: Value = serde_json::from_str(written).expect("output is JSON");
            assert!(same(&original, &reparsed), "{text} -> {written}");
        }
        Err(_) => {
            assert!(
                !fast_ok,
                "the scanner accepted what serde_json refuses: {text}"
            );
            assert!(
                serde_json::from_str::<Value>(text).is_err() || text.contains("\\ud"),
                "{text}"
            );
        }
    }
});
