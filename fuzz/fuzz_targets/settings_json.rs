//! A learning package's settings.json never panics the catalog reader.
#![no_main]

use std::path::Path;

use gama_vr_relay::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = Catalog::from_settings(text, Path::new("/lp/demo/settings.json"), Path::new("/"));
    for (i, m) in catalog.models.iter().enumerate() {
        assert_eq!(m.index, i);
        assert!(m.model_file_path.is_absolute());
    }
    let _ = serde_json::to_string(&catalog.entries);
});
