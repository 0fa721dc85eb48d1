//! JSON field lookup (`src/verify/json_pointer.rs`) on arbitrary bytes:
//! never a panic, several pointers in one pass find what each finds alone,
//! and whenever serde_json reads the body, the scanner finds the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use hookfence::verify::json_pointer::{lookup_all, lookup_one, Lookup, Pointer};

fuzz_target!(|data: &[u8]| {
    // First line: pointers separated by spaces; the rest: the body.
    let (pointers, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"/a /a/0 /b/c"[..], data),
    };
    let Ok(pointers) = std::str::from_utf8(pointers) else { return };
    let pointers: Vec<Pointer> = pointers.split(' ').filter_map(Pointer::parse).collect();
    let together = lookup_all(body, &pointers);
    if !pointers.is_empty() {
        // (With no pointer, only the pass checks the body at all.)
        let alone: Result<Vec<Lookup<'_>>, _> = pointers.iter().map(|p| lookup_one(body, p)).collect();
        assert_eq!(together, alone);
    }
    if let Ok(document) = serde_json::from_slice::<Value>(body) {
        let found = together.expect("serde_json read this body");
        for (pointer, found) in pointers.iter().zip(found) {
            let expected = match document.pointer(pointer.as_str()) {
                None => Lookup::Absent,
                Some(Value::String(s)) => Lookup::Text(s.clone().into()),
                Some(Value::Number(n)) => Lookup::Number(n.to_string().into()),
                Some(_) => Lookup::NotScalar,
            };
            assert_eq!(found, expected, "{pointer}");
        }
    }
});
