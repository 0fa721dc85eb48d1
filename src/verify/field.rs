//! Where a delivery's id, event type or branch is found: a header
//! (`header:X-GitHub-Delivery`) or a JSON pointer into the body
//! (`json:/event/id`). Presets and route configs write fields the same way.
//!
//! Header fields are read as soon as the head arrives (they explain a
//! refusal in the audit record); JSON fields only from a verified body. All
//! the JSON fields a route reads are found by one pass over the body, made
//! when the first of them is asked for, that builds nothing but the values
//! it finds ([`super::json_pointer`]).

use std::borrow::Cow;
use std::cell::OnceCell;

use http::header::HeaderName;

use super::json_pointer::{self, Lookup, Pointer};
use crate::header_lines::HeaderLines;

/// One source of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Header(HeaderName),
    /// RFC 6901 JSON pointer.
    Json(Pointer),
}

impl Field {
    /// Parses `header:<name>` or `json:<pointer>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("header:") {
            HeaderName::from_bytes(name.trim().as_bytes())
                .map(Field::Header)
                .map_err(|_| format!("`{name}` is not a valid header name"))
        } else if let Some(pointer) = text.strip_prefix("json:") {
            match Pointer::parse(pointer).filter(|_| !pointer.is_empty()) {
                Some(pointer) => Ok(Field::Json(pointer)),
                None => Err(format!(
                    "`{pointer}` is not a JSON pointer: it must start with `/` (e.g. json:/after)"
                )),
            }
        } else {
            Err(format!("`{text}` must be `header:<name>` or `json:<pointer>`"))
        }
    }

    /// The JSON pointer this field reads, if it reads the body.
    pub fn pointer(&self) -> Option<&Pointer> {
        match self {
            Field::Json(pointer) => Some(pointer),
            Field::Header(_) => None,
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Header(name) => write!(f, "header:{}", super::display_header_name(name.as_str())),
            Field::Json(pointer) => write!(f, "json:{pointer}"),
        }
    }
}

/// Longest value kept for a field: ids and event names are short, and a
/// value an attacker controls must not grow the audit trail or a store key.
pub const MAX_FIELD_LEN: usize = 256;

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Value(String),
    /// Absent, not text, empty or too long.
    Absent,
    /// Given more than once, with different values.
    Conflict,
}

/// Reads fields from one delivery.
pub struct FieldReader<'a> {
    headers: HeaderLines<'a>,
    body: &'a [u8],
    /// The JSON fields the caller will ask for: found together, in one
    /// pass over the body, on the first request for any of them.
    expected: &'a [Pointer],
    /// What that pass found; `None` if the body is not JSON.
    found: OnceCell<Option<Vec<Lookup<'a>>>>,
}

impl<'a> FieldReader<'a> {
    /// A reader that will be asked for the JSON fields `expected` (others
    /// cost a pass of their own).
    pub fn new(headers: HeaderLines<'a>, body: &'a [u8], expected: &'a [Pointer]) -> Self {
        Self {
            headers,
            body,
            expected,
            found: OnceCell::new(),
        }
    }

    /// The text `pointer` leads to (a string or a number), borrowed from
    /// the body or from the pass's results; `None` if the body is not JSON
    /// or the value is not text.
    fn json(&self, pointer: &Pointer) -> Option<Cow<'_, str>> {
        let Some(i) = self.expected.iter().position(|p| p == pointer) else {
            return match json_pointer::lookup_one(self.body, pointer).ok()? {
                Lookup::Text(text) | Lookup::Number(text) => Some(text),
                Lookup::NotScalar | Lookup::Absent => None,
            };
        };
        let found = self
            .found
            .get_or_init(|| json_pointer::lookup_all(self.body, self.expected).ok());
        match found.as_ref()?.get(i)? {
            Lookup::Text(text) | Lookup::Number(text) => Some(Cow::Borrowed(&**text)),
            Lookup::NotScalar | Lookup::Absent => None,
        }
    }

    /// The field's value: a header's text, or a JSON string or number. `None`
    /// when absent, not text, empty, longer than [`MAX_FIELD_LEN`], or given
    /// twice with different values.
    pub fn get(&self, field: &Field) -> Option<String> {
        match self.read(field) {
            Read::Value(value) => Some(value),
            Read::Absent | Read::Conflict => None,
        }
    }

    /// The field's value, telling an absent one from one given twice with
    /// different values. A header field may come as several lines or as a
    /// comma-separated list (RFC 9110 §5.3 makes the two the same): when
    /// every item is the same value (`X-GitHub-Delivery: X, X`, or the same
    /// line twice), that is the value; when they differ, two deliveries'
    /// values are mixed and neither is believed.
    pub fn read(&self, field: &Field) -> Read {
        let value: Cow<'_, str> = match field {
            Field::Header(name) => {
                let mut agreed: Option<&[u8]> = None;
                for item in self
                    .headers
                    .get_all(name.as_str())
                    .flat_map(|line| line.split(|&b| b == b','))
                    .map(<[u8]>::trim_ascii)
                    .filter(|item| !item.is_empty())
                {
                    match agreed {
                        None => agreed = Some(item),
                        Some(first) if first == item => {}
                        Some(_) => return Read::Conflict,
                    }
                }
                let Some(value) = agreed else {
                    return Read::Absent;
                };
                // Visible ASCII only, as `HeaderValue::to_str` accepts.
                if !value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)) {
                    return Read::Absent;
                }
                match std::str::from_utf8(value) {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => return Read::Absent,
                }
            }
            Field::Json(pointer) => match self.json(pointer) {
                Some(value) => value,
                None => return Read::Absent,
            },
        };
        // Checked before copying: a field may be a megabyte of body (what
        // the scanner decoded from escapes it has copied once already).
        if !value.is_empty() && value.len() <= MAX_FIELD_LEN {
            Read::Value(value.into_owned())
        } else {
            Read::Absent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header_lines::OwnedHeaderLines;

    #[test]
    fn parse_and_read() {
        let headers: OwnedHeaderLines = [
            ("X-GitHub-Delivery", &b"abc"[..]),
            ("x-dup", b"1"),
            ("x-dup", b"2"),
            ("x-latin1", b"caf\xe9"),
        ]
        .into_iter()
        .collect();
        let body = br#"{"ref":"refs/heads/main","n":42,"o":{},"e":"","s":{"id":"x"}}"#;
        let expected: Vec<Pointer> = ["/ref", "/s/id", "/n"]
            .iter()
            .map(|p| Pointer::parse(p).unwrap())
            .collect();
        let reader = FieldReader::new(headers.lines(), body, &expected);
        let get = |text: &str| reader.get(&Field::parse(text).unwrap());
        assert_eq!(get("header:X-GitHub-Delivery").as_deref(), Some("abc"));
        assert_eq!(get("header:x-missing"), None);
        assert_eq!(get("header:x-dup"), None, "two values: neither");
        assert_eq!(get("header:x-latin1"), None, "not text");
        assert_eq!(get("json:/ref").as_deref(), Some("refs/heads/main"));
        assert_eq!(get("json:/n").as_deref(), Some("42"));
        assert_eq!(get("json:/s/id").as_deref(), Some("x"));
        assert_eq!(get("json:/o"), None, "objects are not values");
        assert_eq!(get("json:/e"), None, "empty is absent");
        assert!(reader.found.get().is_some(), "the expected fields were found together");
        assert!(Field::parse("json:ref").unwrap_err().contains("must start with `/`"));
        assert!(Field::parse("json:").unwrap_err().contains("must start with `/`"));
        assert!(Field::parse("body:/x").unwrap_err().contains("header:<name>"));
        assert_eq!(
            Field::parse("header:x-github-delivery").unwrap().to_string(),
            "header:X-Github-Delivery"
        );
    }

    #[test]
    fn a_header_given_twice_is_one_value_only_if_the_copies_agree() {
        let headers: OwnedHeaderLines = [
            ("x-same", &b"X"[..]),
            ("x-same", b"X"),
            ("x-list", b"Y, Y ,Y"),
            ("x-mixed", b"A, B"),
            ("x-lines", b"A"),
            ("x-lines", b"B"),
            ("x-empty-items", b", Z,,"),
        ]
        .into_iter()
        .collect();
        let reader = FieldReader::new(headers.lines(), b"", &[]);
        let read = |name: &str| reader.read(&Field::parse(&format!("header:{name}")).unwrap());
        assert_eq!(read("x-same"), Read::Value("X".into()));
        assert_eq!(read("x-list"), Read::Value("Y".into()));
        assert_eq!(read("x-mixed"), Read::Conflict);
        assert_eq!(read("x-lines"), Read::Conflict);
        assert_eq!(read("x-empty-items"), Read::Value("Z".into()));
        assert_eq!(read("x-none"), Read::Absent);
        assert_eq!(reader.get(&Field::parse("header:x-lines").unwrap()), None);
    }

    #[test]
    fn a_body_that_is_not_json_has_no_json_fields() {
        let expected = [Pointer::parse("/ref").unwrap()];
        let reader = FieldReader::new(HeaderLines::empty(), b"payload=%7B%7D", &expected);
        assert_eq!(reader.get(&Field::Json(expected[0].clone())), None);
        assert_eq!(reader.get(&Field::parse("json:/other").unwrap()), None);
    }
}
