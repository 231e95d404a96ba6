//! The hot path's one-pass scanner of linker output (with its fallback) delivers exactly what the
//! general serde path delivers, for the document as an object and as GAMA's escaped string.
#![no_main]

use gama_vr_relay::protocol::gama::{
    Delivery, Envelope, PayloadKind, SIMULATION_OUTPUT_PREFIX, SimulationOutput,
    collect_simulation_output, collect_simulation_output_reference, parse_simulation_output_from,
    scan_simulation_output_frame,
};
use gama_vr_relay::protocol::linker::Scanned;
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
    // What the GAMA reader does with a whole frame: the fast path from the frame's prefix, the
    // general path from where it stopped.
    let frame = format!(
        "{SIMULATION_OUTPUT_PREFIX}{},\"exp_id\":\"0\"}}",
        &contents[0].get()[1..]
    );
    let mut from_frame = Vec::new();
    let output = match scan_simulation_output_frame(&frame, &mut |d| from_frame.push(d)) {
        Some(Scanned::Linker(n)) => SimulationOutput::Linker(n),
        Some(Scanned::Stopped(k)) => {
            let envelope = Envelope::parse(&frame).expect("a valid envelope");
            parse_simulation_output_from(envelope.content, &mut |d| from_frame.push(d), k)
        }
        None => panic!("built with GAMA's prefix"),
    };
    let (reference, reference_deliveries) = collect_simulation_output_reference(Some(&contents[0]));
    assert_eq!(output, reference, "{doc}");
    assert_eq!(frames(&from_frame), frames(&reference_deliveries), "{doc}");
    for content in &contents {
        let (fast, fast_deliveries) = collect_simulation_output(Some(content));
        let (reference, reference_deliveries) = collect_simulation_output_reference(Some(content));
        assert_eq!(fast, reference, "{doc}");
        assert_eq!(
            frames(&fast_deliveries),
            frames(&reference_deliveries),
            "{doc}"
        );
    }
});
