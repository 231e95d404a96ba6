//! A frame from gama-server: the envelope, linker output and error messages never panic, and every
//! json_output frame built is valid JSON with the payload inside.
#![no_main]

use gama_vr_relay::fuzzing::{Output, Read, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut deliveries = Vec::new();
    match read(text, &mut |d| deliveries.push(d)) {
        Read::Output(Output::Linker(n)) => assert_eq!(n, deliveries.len()),
        Read::Output(_) | Read::Unreadable(_) => {}
        Read::Other(envelope) => {
            let _ = envelope.message_type();
            let _ = envelope.exp_id();
            let _ = envelope.correlation();
            let _ = envelope.command_type();
            let _ = envelope.content_message();
            let _ = envelope.with_command(text, "{}");
        }
    }
    for d in deliveries {
        // Valid JSON by the grammar (a payload whose numbers serde_json cannot hold, such as
        // 1E544, is forwarded as GAMA wrote it), wrapped as json_output.
        serde_json::from_str::<serde::de::IgnoredAny>(d.frame.as_str())
            .expect("frames are valid JSON");
        assert!(d.frame.as_str().starts_with("{\"contents\":"));
        assert!(d.frame.as_str().ends_with(",\"type\":\"json_output\"}"));
    }
});
