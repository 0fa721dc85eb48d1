//! docs/providers.md is generated from the presets; these tests keep the
//! file current and prove every route it offers for copying validates.

use std::path::Path;

use hookfence::catalogue;
use hookfence::config::Config;
use hookfence::verify::encoding::KeyEncoding;
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
        let key = match preset.key_encoding {
            KeyEncoding::Text => "example-secret",
            // The first well-formed key of the preset's kind: a P-256 public
            // key (SendGrid's published test key), RFC 8032 test key 1 in
            // base64 and in hex, a Standard Webhooks secret, plain base64.
            _ => [
                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ]
            .into_iter()
            .find(|key| preset.key(key).is_ok())
            .unwrap_or_else(|| panic!("{}: no example key of its kind", preset.name)),
        };
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
