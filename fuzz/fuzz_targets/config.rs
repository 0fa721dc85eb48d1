//! The config parser on arbitrary text: errors, never panics; every error
//! names the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

use hookfence::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| (name.len() % 3 != 0).then(|| format!("value-of-{name}"));
    if let Err(errors) = Config::parse(Path::new("fuzz.toml"), text, &env) {
        for error in &errors.0 {
            assert!(error.to_string().starts_with("fuzz.toml"), "{error}");
        }
    }
});
