//! Values out of a JSON body by RFC 6901 pointer: several pointers in one
//! pass over the body, building nothing but the values found.
//!
//! Linear's signed timestamp and the `json:` fields of a route (a delivery
//! id, an event type, a branch) are single scalars somewhere in the body.
//! Parsing the body into a `serde_json::Value` to read them allocates a tree
//! several times the body's size, for a body up to `max_body` long: memory
//! outside the body budget. serde_json's validating skip (`IgnoredAny`)
//! builds nothing, but it looks at string contents eight bytes at a time,
//! and it was made once for every field a route reads (BENCHMARKS.md).
//!
//! So the body is scanned here, once for all the fields a route reads
//! (Linear's timestamp, read while verifying, is a pass of its own): the
//! scanner follows the pointers' keys and indexes and checks the rest of
//! the document as it goes, short strings a word at a time and long ones
//! with memchr. It refuses what is not one JSON document (broken structure,
//! bad numbers, literals or escapes, raw control characters in strings,
//! nesting deeper than 127, trailing bytes). Like serde's skipping, it does
//! not check that skipped strings are UTF-8, that skipped numbers fit an
//! `f64`, or that `\u` escapes pair their surrogates; the keys on a
//! pointer's path and the values found are decoded as serde_json decodes
//! them, UTF-8 checked. With duplicate keys the last one wins, as with
//! `serde_json::Value`.

use std::borrow::Cow;

/// What a pointer leads to in a well-formed JSON document (text borrowed
/// from the body where it can be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'b> {
    /// A string, as text.
    Text(Cow<'b, str>),
    /// A number, written as `serde_json::Number` writes it.
    Number(Cow<'b, str>),
    /// `null`, a boolean, an object or an array.
    NotScalar,
    /// Nothing there.
    Absent,
}

/// The body is not one well-formed JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// An RFC 6901 pointer, split into its reference tokens once (at config
/// load) rather than on every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: Box<str>,
    tokens: Box<[Token]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// The key, `~1` and `~0` unescaped.
    key: Box<str>,
    /// The array index the token also names (digits, no leading zero).
    index: Option<usize>,
}

impl Pointer {
    /// `""` (the whole document) or text starting with `/`; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let tokens = if text.is_empty() {
            Vec::new()
        } else {
            text.strip_prefix('/')?
                .split('/')
                .map(|token| {
                    let key = if token.contains('~') {
                        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
                    } else {
                        Cow::Borrowed(token)
                    };
                    Token {
                        index: index(&key),
                        key: key.into(),
                    }
                })
                .collect()
        };
        Some(Self {
            text: text.into(),
            tokens: tokens.into(),
        })
    }

    /// The pointer to `key` of the top-level object.
    pub fn member(key: &str) -> Self {
        Self {
            text: format!("/{}", key.replace('~', "~0").replace('/', "~1")).into(),
            tokens: Box::new([Token {
                index: index(key),
                key: key.into(),
            }]),
        }
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An array index token: digits, without a leading zero (RFC 6901 §4).
fn index(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if !digits || token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Most pointers one pass follows (they are tracked as bits of a `u64`).
const MAX_POINTERS: usize = 64;

/// Follows `pointer` into `body`.
pub fn lookup_one<'b>(body: &'b [u8], pointer: &Pointer) -> Result<Lookup<'b>, Malformed> {
    let mut found = [Lookup::Absent];
    scan(body, std::slice::from_ref(pointer), &mut found)?;
    let [found] = found;
    Ok(found)
}

/// Follows every pointer into `body`, in one pass for each 64 of them (a
/// route reads three at most); the values in the pointers' order.
pub fn lookup_all<'b>(body: &'b [u8], pointers: &[Pointer]) -> Result<Vec<Lookup<'b>>, Malformed> {
    let mut found = vec![Lookup::Absent; pointers.len()];
    if pointers.is_empty() {
        // Nothing to follow; the body is still checked, as for any lookup.
        return scan(body, &[], &mut []).map(|()| found);
    }
    for (pointers, found) in pointers.chunks(MAX_POINTERS).zip(found.chunks_mut(MAX_POINTERS)) {
        scan(body, pointers, found)?;
    }
    Ok(found)
}

/// One pass over `body` for (at most [`MAX_POINTERS`]) `pointers`, filling `found`.
fn scan<'b>(body: &'b [u8], pointers: &[Pointer], found: &mut [Lookup<'b>]) -> Result<(), Malformed> {
    let mut scan = Scan {
        bytes: body,
        at: 0,
        pointers,
        found,
    };
    let all = if pointers.len() == MAX_POINTERS {
        u64::MAX
    } else {
        (1u64 << pointers.len()) - 1
    };
    scan.value(all, 0)?;
    scan.skip_whitespace();
    if scan.at != body.len() {
        return Err(Malformed);
    }
    Ok(())
}

/// Containers nested deeper than this are refused, as serde_json refuses
/// them (a test pins the two together).
const MAX_DEPTH: usize = 127;

/// One pass over a document. `at` only ever moves forward, and never past
/// the end of `bytes`.
struct Scan<'b, 'p, 'f> {
    bytes: &'b [u8],
    at: usize,
    pointers: &'p [Pointer],
    found: &'f mut [Lookup<'b>],
}

/// The positions of the set bits of `mask`.
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let bit = mask.trailing_zeros() as usize;
        (mask != 0).then(|| {
            mask &= mask - 1;
            bit
        })
    })
}

impl<'b> Scan<'b, '_, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Expects `byte` (after whitespace) and steps over it.
    fn expect(&mut self, byte: u8) -> Result<(), Malformed> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return Err(Malformed);
        }
        self.at += 1;
        Ok(())
    }

    /// One value, `depth` pointer tokens below the root. `wanted`: the
    /// pointers whose first `depth` tokens lead here.
    fn value(&mut self, wanted: u64, depth: usize) -> Result<(), Malformed> {
        self.skip_whitespace();
        // A later duplicate key replaces an earlier value whole: whatever
        // was found in the earlier one no longer counts.
        for i in bits(wanted) {
            self.found[i] = Lookup::Absent;
        }
        let ending = bits(wanted)
            .filter(|&i| self.pointers[i].tokens.len() == depth)
            .fold(0u64, |mask, i| mask | (1 << i));
        let deeper = wanted & !ending;
        let start = self.at;
        let mut escaped = false;
        let scalar = match self.peek().ok_or(Malformed)? {
            b'{' | b'[' if depth >= MAX_DEPTH => return Err(Malformed),
            b'{' => {
                self.object(deeper, depth)?;
                false
            }
            b'[' => {
                self.array(deeper, depth)?;
                false
            }
            b'"' => {
                escaped = self.string()?;
                true
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                true
            }
            b't' => self.literal(b"true").map(|()| false)?,
            b'f' => self.literal(b"false").map(|()| false)?,
            b'n' => self.literal(b"null").map(|()| false)?,
            _ => return Err(Malformed),
        };
        if ending != 0 {
            let value = if scalar {
                decode_scalar(&self.bytes[start..self.at], escaped)?
            } else {
                Lookup::NotScalar
            };
            for i in bits(ending) {
                self.found[i] = value.clone();
            }
        }
        Ok(())
    }

    fn object(&mut self, wanted: u64, depth: usize) -> Result<(), Malformed> {
        self.members(b'}', |scan, _| {
            scan.skip_whitespace();
            if scan.peek() != Some(b'"') {
                return Err(Malformed);
            }
            let start = scan.at;
            let escaped = scan.string()?;
            let matching = if wanted == 0 {
                0
            } else {
                let quoted = &scan.bytes[start..scan.at];
                // Keys on a pointer's path are decoded as serde_json decodes
                // them: unescaped, and refused if they are not UTF-8.
                let key = if escaped {
                    Cow::Owned(serde_json::from_slice::<String>(quoted).map_err(|_| Malformed)?)
                } else {
                    Cow::Borrowed(std::str::from_utf8(&quoted[1..quoted.len() - 1]).map_err(|_| Malformed)?)
                };
                bits(wanted)
                    .filter(|&i| *scan.pointers[i].tokens[depth].key == *key)
                    .fold(0u64, |mask, i| mask | (1 << i))
            };
            scan.expect(b':')?;
            scan.value(matching, depth + 1)
        })
    }

    fn array(&mut self, wanted: u64, depth: usize) -> Result<(), Malformed> {
        self.members(b']', |scan, position| {
            let matching = bits(wanted)
                .filter(|&i| scan.pointers[i].tokens[depth].index == Some(position))
                .fold(0u64, |mask, i| mask | (1 << i));
            scan.value(matching, depth + 1)
        })
    }

    /// The members of an object or the elements of an array, from its
    /// opening bracket to past `close`, separated by commas; `member` reads
    /// each, given its position.
    fn members(
        &mut self,
        close: u8,
        mut member: impl FnMut(&mut Self, usize) -> Result<(), Malformed>,
    ) -> Result<(), Malformed> {
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        let mut position = 0;
        loop {
            member(self, position)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    position += 1;
                }
                Some(byte) if byte == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// A string, from its opening quote to past its closing one; whether it
    /// has escapes.
    fn string(&mut self) -> Result<bool, Malformed> {
        self.at += 1;
        let mut escaped = false;
        loop {
            let rest = &self.bytes[self.at..];
            let stop = run_end(rest).ok_or(Malformed)?;
            self.at += stop + 1;
            match rest[stop] {
                b'"' => return Ok(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                // Control characters must be escaped (RFC 8259 §7).
                _ => return Err(Malformed),
            }
        }
    }

    /// What follows a backslash in a string.
    fn escape(&mut self) -> Result<(), Malformed> {
        match self.peek().ok_or(Malformed)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
            b'u' => {
                let hex = self.bytes.get(self.at + 1..self.at + 5).ok_or(Malformed)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Malformed);
                }
                self.at += 5;
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), Malformed> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Malformed),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), Malformed> {
        let start = self.at;
        self.digits();
        if self.at == start {
            return Err(Malformed);
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Malformed> {
        if !self.bytes[self.at..].starts_with(word) {
            return Err(Malformed);
        }
        self.at += word.len();
        Ok(())
    }
}

/// Where the run of plain string contents at the start of `rest` ends: the
/// first quote, backslash or control character.
///
/// Keys, ids and names are short: the first [`SHORT_RUN`] bytes are looked
/// at eight at a time, as one word. A longer run (a message, a description)
/// goes to memchr for the next quote or backslash, then to a check for
/// control characters by a minimum that, having no early exit, is vectorised.
fn run_end(rest: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < SHORT_RUN {
        let Some(word) = rest.get(at..).and_then(<[u8]>::first_chunk::<8>) else {
            return rest[at..].iter().position(|&b| ends_run(b)).map(|i| at + i);
        };
        let found = run_enders(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let long = &rest[at..];
    let stop = memchr::memchr2(b'"', b'\\', long)?;
    let run = &long[..stop];
    if run.iter().fold(u8::MAX, |least, &b| least.min(b)) >= 0x20 {
        return Some(at + stop);
    }
    run.iter().position(|&b| b < 0x20).map(|control| at + control)
}

/// String contents looked at a word at a time before memchr takes over.
const SHORT_RUN: usize = 64;

/// A byte that ends a run of plain string contents.
fn ends_run(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// Marks (as its high bit) the lowest byte of `word` (little-endian) that
/// ends a run, and possibly bytes above it: each of the three tests (equal
/// to a quote, equal to a backslash, below 0x20) can only mark a byte
/// wrongly through a borrow from a byte below it that it marks rightly, so
/// the lowest mark is exact and only it is used.
fn run_enders(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
}

/// A found string or number, as serde_json reads it: strings unescaped and
/// checked to be UTF-8, numbers written as `serde_json::Number` writes them.
/// The usual cases (a string without escapes, an integer of up to 19
/// digits, which `u64` holds and serde writes back unchanged) are read here
/// without serde.
fn decode_scalar(text: &[u8], escaped: bool) -> Result<Lookup<'_>, Malformed> {
    match text {
        [b'"', inner @ .., b'"'] if !escaped => {
            let inner = std::str::from_utf8(inner).map_err(|_| Malformed)?;
            return Ok(Lookup::Text(Cow::Borrowed(inner)));
        }
        digits if digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit) => {
            // Digits only: ASCII, and (by the number grammar) no leading zero.
            let digits = std::str::from_utf8(digits).map_err(|_| Malformed)?;
            return Ok(Lookup::Number(Cow::Borrowed(digits)));
        }
        _ => {}
    }
    match serde_json::from_slice(text).map_err(|_| Malformed)? {
        serde_json::Value::String(text) => Ok(Lookup::Text(text.into())),
        serde_json::Value::Number(number) => Ok(Lookup::Number(number.to_string().into())),
        _ => Ok(Lookup::NotScalar),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Follows one pointer, given as text; text that is not a pointer leads
    /// nowhere (as with `serde_json::Value::pointer`).
    fn lookup<'b>(body: &'b [u8], pointer: &str) -> Result<Lookup<'b>, Malformed> {
        match Pointer::parse(pointer) {
            Some(pointer) => lookup_one(body, &pointer),
            None => Ok(Lookup::Absent),
        }
    }

    /// What `serde_json::Value::pointer` finds, as a [`Lookup`].
    fn reference(body: &[u8], pointer: &str) -> Result<Lookup<'static>, Malformed> {
        let document: Value = serde_json::from_slice(body).map_err(|_| Malformed)?;
        Ok(match document.pointer(pointer) {
            None => Lookup::Absent,
            Some(Value::String(s)) => Lookup::Text(s.clone().into()),
            Some(Value::Number(n)) => Lookup::Number(n.to_string().into()),
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
        assert_eq!(
            lookup(b"{\"\xff\":0,\"a\":1}", "/a"),
            Err(Malformed),
            "keys on the path are UTF-8"
        );
        assert_eq!(lookup(br#"{"a":1,"\u0061":2}"#, "/a"), Ok(Lookup::Number("2".into())));
        assert_eq!(lookup(br#"{"a":{"b":1},"a":2}"#, "/a/b"), Ok(Lookup::Absent));
    }

    #[test]
    fn refuses_what_is_not_json_wherever_it_is() {
        for body in [
            &br#"{"a":1,"s":"tab	inside"}"#[..],
            br#"{"a":1,"s":"\x"}"#,
            br#"{"a":1,"s":"\u12G4"}"#,
            br#"{"a":1,"s":"\u12"}"#,
            br#"{"a":1,"n":01}"#,
            br#"{"a":1,"n":1.}"#,
            br#"{"a":1,"n":-}"#,
            br#"{"a":1,"n":1e}"#,
            br#"{"a":1,"n":+1}"#,
            br#"{"a":1,"t":tru}"#,
            br#"{"a":1,"l":[1,]}"#,
            br#"{"a":1,}"#,
            br#"{"a":1 "b":2}"#,
            br#"{"a" 1}"#,
            br#"{a:1}"#,
            br#"{"a":1}}"#,
            br#"{"a":1,"s":"open"#,
        ] {
            let text = String::from_utf8_lossy(body);
            assert_eq!(lookup(body, "/a"), Err(Malformed), "{text}");
            assert!(reference(body, "/a").is_err(), "serde_json agrees: {text}");
        }
    }

    #[test]
    fn nests_as_deep_as_serde_json_and_no_deeper() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
        let deepest = (1..200)
            .take_while(|&d| reference(&nested(d), "").is_ok())
            .last()
            .unwrap();
        assert_eq!(lookup(&nested(deepest), ""), Ok(Lookup::NotScalar));
        assert_eq!(lookup(&nested(deepest + 1), ""), Err(Malformed));
        assert_eq!(lookup(&nested(100_000), ""), Err(Malformed), "no stack overflow");
    }

    #[test]
    fn several_pointers_in_one_pass() {
        let body = br#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{"id":"ch_1"}},"type":"invoice.paid"}"#;
        let pointers: Vec<Pointer> = ["/id", "/type", "/data/object/id", "/missing", "/type"]
            .iter()
            .map(|p| Pointer::parse(p).unwrap())
            .collect();
        assert_eq!(
            lookup_all(body, &pointers),
            Ok(vec![
                Lookup::Text("evt_1".into()),
                Lookup::Text("invoice.paid".into()),
                Lookup::Text("ch_1".into()),
                Lookup::Absent,
                Lookup::Text("invoice.paid".into()),
            ])
        );
        let many: Vec<Pointer> = (0..MAX_POINTERS + 2).map(|_| Pointer::parse("/id").unwrap()).collect();
        let found = lookup_all(body, &many).unwrap();
        assert_eq!(found[MAX_POINTERS - 1], Lookup::Text("evt_1".into()));
        assert_eq!(
            found[MAX_POINTERS + 1],
            Lookup::Text("evt_1".into()),
            "in a second pass"
        );
        assert!(Pointer::parse("no-slash").is_none());
        assert_eq!(Pointer::member("a/b~c"), Pointer::parse("/a~1b~0c").unwrap());
        assert_eq!(Pointer::member("7"), Pointer::parse("/7").unwrap());
        assert_eq!(Pointer::parse("/a~1b").unwrap().to_string(), "/a~1b");
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
            // All of them in one pass find what each finds alone.
            let parsed: Vec<Pointer> = all.iter().filter_map(|p| Pointer::parse(p)).collect();
            let alone: Result<Vec<Lookup<'_>>, Malformed> = parsed.iter().map(|p| lookup_one(&body, p)).collect();
            prop_assert_eq!(lookup_all(&body, &parsed), alone);
        }

        /// A document with one byte changed, inserted or removed: never a
        /// panic, and whenever serde_json reads it, the same value.
        #[test]
        fn damaged_documents(value in json_value(), at in any::<prop::sample::Index>(),
                             byte in prop::sample::select(b"{}[],:\"\\ \t0-.eE+tfnu\x01\xff".to_vec()), how in 0..3u8) {
            let mut body = serde_json::to_vec(&value).unwrap();
            let at = at.index(body.len() + 1);
            match how {
                0 if at < body.len() => body[at] = byte,
                1 => body.insert(at, byte),
                _ if at < body.len() => { body.remove(at); }
                _ => body.push(byte),
            }
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            for pointer in &all {
                let ours = lookup(&body, pointer);
                if let Ok(expected) = reference(&body, pointer) {
                    prop_assert_eq!(ours, Ok(expected), "pointer {} in {:?}", pointer, String::from_utf8_lossy(&body));
                }
            }
        }
    }
}
