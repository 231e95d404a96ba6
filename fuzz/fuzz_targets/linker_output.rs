//! The hot path's one-pass scanner of linker output (with its fallback) delivers exactly what the
//! general serde path delivers, for the document as an object and as GAMA's escaped string, and
//! read from a whole frame the way the GAMA reader gets it.
#![no_main]

use gama_vr_relay::fuzzing::{Delivery, Output, PayloadKind, Read, read, read_content, reference};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// What a delivery carries, comparable.
fn frames(deliveries: &[Delivery]) -> Vec<(Vec<String>, &str, PayloadKind)> {
    deliveries
        .iter()
        .map(|d| (d.players.clone(), d.frame.as_str(), d.kind))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };
    let as_string = serde_json::to_string(doc).expect("a str serialises");
    let mut contents = vec![RawValue::from_string(as_string).expect("a JSON string")];
    if let Ok(object) = RawValue::from_string(doc.trim().to_string()) {
        contents.push(object);
    }
    // A whole frame as GAMA writes it: the fast path from the frame's prefix, the general path
    // from where it stopped.
    let frame = format!(
        "{{\"type\":\"SimulationOutput\",\"content\":{},\"exp_id\":\"0\"}}",
        contents[0].get()
    );
    let mut from_frame = Vec::new();
    let output = match read(&frame, &mut |d| from_frame.push(d)) {
        Read::Output(output) => output,
        other => panic!("a SimulationOutput frame read as {other:?}"),
    };
    let (expected, expected_deliveries) = reference(Some(&contents[0]));
    assert_eq!(output, expected, "{doc}");
    assert_eq!(frames(&from_frame), frames(&expected_deliveries), "{doc}");
    for content in &contents {
        let mut fast_deliveries = Vec::new();
        let fast = read_content(Some(content), &mut |d| fast_deliveries.push(d), None);
        let (expected, expected_deliveries) = reference(Some(content));
        assert_eq!(fast, expected, "{doc}");
        assert_eq!(
            frames(&fast_deliveries),
            frames(&expected_deliveries),
            "{doc}"
        );
        if let Output::Linker(n) = fast {
            assert_eq!(n, fast_deliveries.len());
        }
    }
});
