//! A message's header lines as they arrived: names and values as raw bytes,
//! in arrival order, repeats kept. Verification, field extraction and
//! forwarding all read these rather than a map rebuilt from them, so what is
//! checked is exactly what is forwarded, and reading a request allocates
//! nothing per header.
//!
//! Lookups scan the lines: a webhook delivery carries a dozen or two headers,
//! fewer than it takes for hashing to pay off.

/// Where one line's name and value lie in the bytes of a message head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    name: (usize, usize),
    value: (usize, usize),
}

impl Line {
    /// A line whose name is `block[name.0..name.1]` and value
    /// `block[value.0..value.1]`.
    pub fn new(name: (usize, usize), value: (usize, usize)) -> Self {
        Self { name, value }
    }
}

/// A borrowed view of header lines: the head's bytes and where each line is.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLines<'a> {
    block: &'a [u8],
    lines: &'a [Line],
}

/// A header that must appear once appeared several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

impl<'a> HeaderLines<'a> {
    /// `lines` must lie within `block` (the parser and [`OwnedHeaderLines`]
    /// guarantee it); a line that does not reads as empty.
    pub fn new(block: &'a [u8], lines: &'a [Line]) -> Self {
        Self { block, lines }
    }

    /// No lines at all.
    pub fn empty() -> Self {
        Self { block: &[], lines: &[] }
    }

    fn span(&self, (start, end): (usize, usize)) -> &'a [u8] {
        self.block.get(start..end).unwrap_or_default()
    }

    /// Every line as `(name, value)`, in arrival order.
    pub fn iter(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.lines
            .iter()
            .map(move |line| (self.span(line.name), self.span(line.value)))
    }

    /// The values of every line called `name` (ASCII case-insensitive), in order.
    pub fn get_all<'n>(self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| names_equal(n, name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// The first value of `name`.
    pub fn get(self, name: &str) -> Option<&'a [u8]> {
        self.get_all(name).next()
    }

    pub fn contains(self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of a header that must appear at most once.
    pub fn single(self, name: &str) -> Result<Option<&'a [u8]>, Repeated> {
        let mut values = self.get_all(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(Repeated),
            None => Ok(first),
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Header names compare ASCII case-insensitively; the length first, since
/// most names differ in length. Inlined: the data path calls it for nearly
/// every header line, and the compiler stopped inlining it on its own once
/// the admin API used it too (+2,500 instructions per delivery, counted by
/// benches/instructions.sh).
#[inline(always)]
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// Header lines that own their bytes: for deliveries made up in code (tests,
/// benchmarks, `hookfence sign`).
#[derive(Debug, Clone, Default)]
pub struct OwnedHeaderLines {
    block: Vec<u8>,
    lines: Vec<Line>,
}

impl OwnedHeaderLines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a line (after any others of the same name).
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let mut span = |bytes: &[u8]| {
            let start = self.block.len();
            self.block.extend_from_slice(bytes);
            (start, self.block.len())
        };
        let name = span(name.as_ref());
        let value = span(value.as_ref());
        self.lines.push(Line::new(name, value));
        self
    }

    pub fn lines(&self) -> HeaderLines<'_> {
        HeaderLines::new(&self.block, &self.lines)
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for OwnedHeaderLines {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut owned = Self::new();
        for (name, value) in pairs {
            owned.push(name, value);
        }
        owned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_name_case_and_keep_repeats_in_order() {
        let owned: OwnedHeaderLines = [
            ("Host", "example.com"),
            ("X-Hub-Signature-256", "sha256=aa"),
            ("x-forwarded-for", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2"),
            ("X-Binary", "caf\u{e9}"),
        ]
        .into_iter()
        .collect();
        let lines = owned.lines();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines.get("x-hub-signature-256"), Some(&b"sha256=aa"[..]));
        assert_eq!(lines.single("host"), Ok(Some(&b"example.com"[..])));
        assert_eq!(lines.single("x-forwarded-for"), Err(Repeated));
        assert_eq!(lines.single("x-missing"), Ok(None));
        assert_eq!(
            lines.get_all("X-FORWARDED-FOR").collect::<Vec<_>>(),
            [&b"10.0.0.1"[..], &b"10.0.0.2"[..]]
        );
        assert!(!lines.contains("x-hub-signature"), "a prefix is not a match");
        assert_eq!(
            lines.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            [
                &b"Host"[..],
                b"X-Hub-Signature-256",
                b"x-forwarded-for",
                b"X-Forwarded-For",
                b"X-Binary"
            ]
        );
    }

    #[test]
    fn a_line_outside_its_block_reads_as_empty() {
        let lines = [Line::new((0, 4), (90, 99))];
        let view = HeaderLines::new(b"Host", &lines);
        assert_eq!(view.iter().collect::<Vec<_>>(), [(&b"Host"[..], &b""[..])]);
    }
}
