//! A text frame from a headset: parsing never panics, and what it yields is safe to use.
#![no_main]

use gama_vr_relay::fuzzing::{Inbound, create_player, parse_headset, substitute_id, validate_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_headset(text) {
        Ok(Inbound::Connection { id, .. }) => {
            if validate_id(&id, 128).is_ok() {
                // The id always stays inside its GAML string literal.
                let expr = create_player(&id);
                assert!(expr.starts_with("do create_player(\"") && expr.ends_with("\");"));
            }
        }
        Ok(Inbound::Expression { expr }) => {
            let _ = substitute_id(&expr, "Player_1");
        }
        Ok(Inbound::Ask {
            action,
            args,
            agent,
        }) => {
            // What is forwarded is always a JSON string literal holding valid text.
            assert!(serde_json::from_str::<String>(&args).is_ok(), "{args}");
            assert!(
                serde_json::from_str::<String>(action.get()).is_ok(),
                "{action}"
            );
            if let Some(agent) = agent {
                assert!(
                    serde_json::from_str::<String>(agent.get()).is_ok(),
                    "{agent}"
                );
            }
        }
        _ => {}
    }
});
