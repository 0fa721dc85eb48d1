//! One value out of a JSON body by RFC 6901 pointer, without building the
//! document.
//!
//! Linear's signed timestamp and any `json:` field (a delivery id, an event
//! type, a branch) are single scalars somewhere in the body. Parsing the body
//! into a `serde_json::Value` to read one of them allocates a tree several
//! times the body's size, for a body up to `max_body` long that an attacker
//! may send: that memory is outside the body budget, and building it was
//! most of Linear's verification cost (BENCHMARKS.md). Here the parser walks
//! the body once, follows the pointer's keys, skips everything else with
//! [`IgnoredAny`] (which still checks that it is valid JSON), and allocates
//! only the value found. With duplicate keys the last one wins, as with
//! `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a pointer leads to in a well-formed JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A string, as text.
    Text(String),
    /// A number, written as `serde_json::Number` writes it.
    Number(String),
    /// `null`, a boolean, an object or an array.
    NotScalar,
    /// Nothing there.
    Absent,
}

/// The body is not one well-formed JSON document.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Follows `pointer` (`""` is the whole document, otherwise it starts with
/// `/`) into `body`.
pub fn lookup(body: &[u8], pointer: &str) -> Result<Lookup, Malformed> {
    let Some(tokens) = tokens(pointer) else {
        return Ok(Lookup::Absent);
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let found = Seek { tokens: &tokens }
        .deserialize(&mut deserializer)
        .map_err(|_| Malformed)?;
    deserializer.end().map_err(|_| Malformed)?;
    Ok(found)
}

/// The pointer's reference tokens, `~1` and `~0` unescaped; `None` for text
/// that is not a pointer.
fn tokens(pointer: &str) -> Option<Vec<Cow<'_, str>>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|token| {
                if token.contains('~') {
                    Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
                } else {
                    Cow::Borrowed(token)
                }
            })
            .collect(),
    )
}

/// An array index token: digits, without a leading zero (RFC 6901 §4).
fn index(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if !digits || token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Reads one JSON value, following `tokens` into it.
struct Seek<'t> {
    tokens: &'t [Cow<'t, str>],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Lookup;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Lookup, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Lookup;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Lookup, E> {
        Ok(self.leaf(|| Lookup::Text(text.to_owned())))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Lookup, E> {
        Ok(self.leaf(|| Lookup::Number(n.to_string())))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Lookup, E> {
        Ok(self.leaf(|| Lookup::Number(n.to_string())))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Lookup, E> {
        // serde_json parses no NaN or infinity, so the number always exists.
        let number = serde_json::Number::from_f64(n).ok_or_else(|| E::custom("not a JSON number"))?;
        Ok(self.leaf(|| Lookup::Number(number.to_string())))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Lookup, E> {
        Ok(self.leaf(|| Lookup::NotScalar))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Lookup, E> {
        Ok(self.leaf(|| Lookup::NotScalar))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lookup, A::Error> {
        let mut found = self.leaf(|| Lookup::NotScalar);
        let wanted = self.tokens.first();
        while let Some(matches) = map.next_key_seed(KeyIs(wanted.map(|t| t.as_ref())))? {
            if matches {
                found = map.next_value_seed(Seek {
                    tokens: &self.tokens[1..],
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lookup, A::Error> {
        let mut found = self.leaf(|| Lookup::NotScalar);
        let wanted = self.tokens.first().and_then(|t| index(t));
        let mut position = 0;
        loop {
            let more = if Some(position) == wanted {
                seq.next_element_seed(Seek {
                    tokens: &self.tokens[1..],
                })?
                .map(|value| found = value)
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(found);
            }
            position += 1;
        }
    }
}

impl Seek<'_> {
    /// The value here if the pointer ends here; a pointer that goes on
    /// into a scalar leads nowhere.
    fn leaf(&self, value: impl FnOnce() -> Lookup) -> Lookup {
        if self.tokens.is_empty() {
            value()
        } else {
            Lookup::Absent
        }
    }
}

/// Reads an object key and tells whether it is the wanted one, without
/// allocating for keys that have no escapes.
struct KeyIs<'w>(Option<&'w str>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(self.0 == Some(key))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// What `serde_json::Value::pointer` finds, as a [`Lookup`].
    fn reference(body: &[u8], pointer: &str) -> Result<Lookup, Malformed> {
        let document: Value = serde_json::from_slice(body).map_err(|_| Malformed)?;
        Ok(match document.pointer(pointer) {
            None => Lookup::Absent,
            Some(Value::String(s)) => Lookup::Text(s.clone()),
            Some(Value::Number(n)) => Lookup::Number(n.to_string()),
            Some(_) => Lookup::NotScalar,
        })
    }

    #[test]
    fn finds_scalars_and_tells_absent_from_malformed() {
        let body = br#"{"a":{"b":[10,{"c~/d":"x\"y"}]},"n":-1.5,"t":true,"a":{"b":[7]}}"#;
        assert_eq!(
            lookup(body, "/a/b/0"),
            Ok(Lookup::Number("7".into())),
            "last duplicate key wins"
        );
        assert_eq!(lookup(body, "/n"), Ok(Lookup::Number("-1.5".into())));
        assert_eq!(lookup(body, "/t"), Ok(Lookup::NotScalar));
        assert_eq!(lookup(body, "/a"), Ok(Lookup::NotScalar));
        assert_eq!(lookup(body, "/a/b/1/c~0~1d"), Ok(Lookup::Absent));
        assert_eq!(
            lookup(br#"{"c~/d":"x\"y"}"#, "/c~0~1d"),
            Ok(Lookup::Text("x\"y".into()))
        );
        assert_eq!(lookup(br#"{"k\u0065y":"v"}"#, "/key"), Ok(Lookup::Text("v".into())));
        assert_eq!(lookup(body, "/a/b/01"), Ok(Lookup::Absent));
        assert_eq!(lookup(body, "/missing/deeper"), Ok(Lookup::Absent));
        assert_eq!(lookup(body, "no-slash"), Ok(Lookup::Absent));
        assert_eq!(lookup(b"\"whole\"", ""), Ok(Lookup::Text("whole".into())));
        assert_eq!(lookup(br#"{"a":1} trailing"#, "/a"), Err(Malformed));
        assert_eq!(
            lookup(br#"{"a":1,"b":[}"#, "/a"),
            Err(Malformed),
            "skipped values are checked too"
        );
        assert_eq!(lookup(b"", "/a"), Err(Malformed));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e9f64..1e9).prop_map(|n| json!(n)),
            "[a-z~/\"\\\\é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-c~/]{0,3}", inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// Every pointer into `value`, escaped as RFC 6901 says.
    fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
        out.push(prefix.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let token = key.replace('~', "~0").replace('/', "~1");
                    pointers(child, format!("{prefix}/{token}"), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    pointers(child, format!("{prefix}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    proptest! {
        /// Agrees with `serde_json::Value::pointer` on every pointer into a
        /// document, on pointers that lead nowhere, and on broken bodies.
        #[test]
        fn agrees_with_serde_json_value(value in json_value(), extra in "(/[a-c0-9~]{0,3}){0,3}", cut in any::<prop::sample::Index>()) {
            let body = serde_json::to_vec(&value).unwrap();
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            all.push(extra);
            for pointer in &all {
                prop_assert_eq!(lookup(&body, pointer), reference(&body, pointer), "pointer {}", pointer);
            }
            let truncated = &body[..cut.index(body.len())];
            prop_assert_eq!(lookup(truncated, &all[0]), reference(truncated, &all[0]));
        }
    }
}
