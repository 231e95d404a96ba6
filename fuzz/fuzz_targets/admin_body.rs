//! The body of an admin request never panics the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gama_vr_relay::fuzzing::parse_launch_body(data);
});
