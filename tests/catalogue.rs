//! docs/providers.md is generated from the presets; these tests keep the
//! file current and prove every route it offers for copying validates.

use std::path::Path;

use hookfence::catalogue;
use hookfence::config::Config;
use hookfence::verify::presets::PRESETS;

#[test]
fn docs_providers_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/providers.md");
    let on_disk = std::fs::read_to_string(path).expect("docs/providers.md exists");
    assert!(
        on_disk == catalogue::markdown(),
        "docs/providers.md is out of date: run `hookfence providers --markdown > docs/providers.md`"
    );
}

#[test]
fn every_example_route_validates() {
    for preset in PRESETS {
        let key = preset.example_key();
        let variable = catalogue::example_variable(preset);
        let source = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n\n{}",
            catalogue::example_route(preset)
        );
        let parsed = Config::parse(Path::new("example.toml"), &source, &|name| {
            (name == variable).then(|| key.to_owned())
        });
        assert!(parsed.is_ok(), "{}: {}\n{source}", preset.name, parsed.unwrap_err());
    }
}
