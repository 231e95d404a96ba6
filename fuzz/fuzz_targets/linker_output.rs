//! The hot path's one-pass scanner of linker output (with its fallback) delivers exactly what the
//! general serde path delivers, for the document as an object and as GAMA's escaped string.
#![no_main]

use gama_vr_relay::protocol::gama::{
    Delivery, Envelope, SIMULATION_OUTPUT_PREFIX, SimulationOutput, collect_simulation_output,
    collect_simulation_output_reference, parse_simulation_output_from,
};
use gama_vr_relay::protocol::linker;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

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
    let rest = frame
        .strip_prefix(SIMULATION_OUTPUT_PREFIX)
        .expect("built with it");
    let output = match linker::scan(rest.as_bytes(), true, &mut |d| from_frame.push(d)) {
        linker::Scanned::Linker(n) => SimulationOutput::Linker(n),
        linker::Scanned::Stopped(k) => {
            let envelope = Envelope::parse(&frame).expect("a valid envelope");
            parse_simulation_output_from(envelope.content, &mut |d| from_frame.push(d), k)
        }
    };
    let (reference, reference_deliveries) = collect_simulation_output_reference(Some(&contents[0]));
    assert_eq!(output, reference, "{doc}");
    let same = |a: &[Delivery], b: &[Delivery]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.players == y.players && x.frame.as_str() == y.frame.as_str() && x.kind == y.kind
            })
    };
    assert!(same(&from_frame, &reference_deliveries), "{doc}");
    for content in &contents {
        let (fast, fast_deliveries) = collect_simulation_output(Some(content));
        let (reference, reference_deliveries) = collect_simulation_output_reference(Some(content));
        assert_eq!(fast, reference, "{doc}");
        let frames = |d: &[gama_vr_relay::protocol::gama::Delivery]| {
            d.iter()
                .map(|d| (d.players.clone(), d.frame.as_str().to_string(), d.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            frames(&fast_deliveries),
            frames(&reference_deliveries),
            "{doc}"
        );
    }
});
