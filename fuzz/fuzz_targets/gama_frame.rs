//! A frame from gama-server: envelope, linker output and error messages never panic, and every
//! json_output frame built is valid JSON with the payload inside.
#![no_main]

use gama_vr_relay::protocol::gama::{Envelope, SimulationOutput, collect_simulation_output};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::parse(text) else {
        return;
    };
    let _ = envelope.message_type();
    let _ = envelope.exp_id();
    let _ = envelope.correlation();
    let _ = envelope.command_type();
    let _ = envelope.content_message();
    let (output, deliveries) = collect_simulation_output(envelope.content);
    if let SimulationOutput::Linker(n) = output {
        assert_eq!(n, deliveries.len());
        for d in deliveries {
            // Valid JSON by the grammar (a payload whose numbers serde_json cannot hold, such as
            // 1E544, is forwarded as GAMA wrote it), wrapped as json_output.
            serde_json::from_str::<serde::de::IgnoredAny>(d.frame.as_str())
                .expect("frames are valid JSON");
            assert!(d.frame.as_str().starts_with("{\"contents\":"));
            assert!(d.frame.as_str().ends_with(",\"type\":\"json_output\"}"));
        }
    }
});
