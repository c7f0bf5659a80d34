//! JSON for capgate: a strict RFC 8259 parser that keeps byte spans and
//! rejects duplicate keys, and a small value type whose serializers are
//! deterministic (RFC 8785 / JCS for hashing, sorted pretty form for files).

use crate::diag::{Code, Diagnostic, Span};
use std::collections::BTreeMap;

/// Deepest nesting accepted in a manifest.
pub const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------
// Parsed values (input side, with spans)

/// A parsed JSON value with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: Kind,
    /// Where it is (for strings: including the quotes).
    pub span: Span,
}

/// The parsed variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written; `integer` is true when it has no fraction or exponent.
    Number {
        /// The literal text.
        raw: String,
        /// No `.`, `e` or `E`.
        integer: bool,
    },
    /// A string; `escaped` is true when the literal used backslash escapes
    /// (then spans inside it cannot be mapped byte for byte).
    String {
        /// Decoded text.
        text: String,
        /// Whether the literal contains escapes.
        escaped: bool,
    },
    /// An array.
    Array(Vec<Value>),
    /// An object, in source order; duplicate keys were rejected.
    Object(Vec<(Key, Value)>),
}

/// An object key with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Decoded key.
    pub text: String,
    /// Span of the key literal.
    pub span: Span,
}

impl Value {
    /// The JSON type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number { .. } => "a number",
            Kind::String { .. } => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    /// The string text, if a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The byte span of characters `[from, to)` of a string value's decoded
    /// text, or the whole literal when it had escapes.
    pub fn sub_span(&self, from: usize, to: usize) -> Span {
        match &self.kind {
            Kind::String { escaped: false, text } if from <= to && to <= text.len() => {
                let start = self.span.start + 1 + from;
                Span::new(start, (self.span.start + 1 + to).max(start + 1))
            }
            _ => self.span,
        }
    }

    /// Convert to the output value type (drops spans).
    pub fn to_json(&self) -> Json {
        match &self.kind {
            Kind::Null => Json::Null,
            Kind::Bool(b) => Json::Bool(*b),
            Kind::Number { raw, integer } => match (integer, raw.parse::<i64>()) {
                (true, Ok(i)) => Json::Int(i),
                _ => Json::RawNumber(raw.clone()),
            },
            Kind::String { text, .. } => Json::Str(text.clone()),
            Kind::Array(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Kind::Object(members) => Json::Object(members.iter().map(|(k, v)| (k.text.clone(), v.to_json())).collect()),
        }
    }
}

/// Parse strict JSON. Syntax errors stop the parse (one diagnostic);
/// duplicate keys are all reported and parsing goes on.
pub fn parse(text: &str) -> Result<Value, Vec<Diagnostic>> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
        dups: Vec::new(),
    };
    let result = (|| {
        p.ws();
        let v = p.value(0)?;
        p.ws();
        if p.pos < p.src.len() {
            return Err(p.err_here("unexpected text after the JSON value"));
        }
        Ok(v)
    })();
    match result {
        Ok(v) if p.dups.is_empty() => Ok(v),
        Ok(_) => Err(p.dups),
        Err(e) => {
            let mut all = p.dups;
            all.push(e);
            Err(all)
        }
    }
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    dups: Vec<Diagnostic>,
}

impl<'a> Parser<'a> {
    fn err_here(&self, msg: &str) -> Diagnostic {
        let end = (self.pos + 1).min(self.src.len()).max(self.pos);
        let mut d = Diagnostic::error(Code::JsonSyntax, msg.to_string()).at(Span::new(self.pos, end));
        if self.text[..self.pos.min(self.text.len())].trim_end().ends_with(',') {
            d = d.hint("JSON does not allow a trailing comma");
        }
        d
    }

    fn ws(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                Code::InputLimit,
                format!("JSON nesting is deeper than {MAX_DEPTH} levels"),
            )
            .at(Span::new(self.pos, (self.pos + 1).min(self.src.len())))
            .hint("a manifest never needs this depth; flatten the inputSchema"));
        }
        let start = self.pos;
        match self.peek() {
            None => Err(self.err_here("unexpected end of input, expected a value")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let (text, escaped) = self.string()?;
                Ok(Value {
                    kind: Kind::String { text, escaped },
                    span: Span::new(start, self.pos),
                })
            }
            Some(b't') => self.literal("true", Kind::Bool(true)),
            Some(b'f') => self.literal("false", Kind::Bool(false)),
            Some(b'n') => self.literal("null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'/') => Err(self.err_here("comments are not allowed in JSON")),
            Some(b'\'') => Err(self
                .err_here("strings must use double quotes")
                .hint("write \"...\" instead of '...'")),
            Some(_) => Err(self.err_here("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Value, Diagnostic> {
        let start = self.pos;
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Value {
                kind,
                span: Span::new(start, self.pos),
            })
        } else {
            Err(self.err_here("expected a JSON value"))
        }
    }

    fn number(&mut self) -> Result<Value, Diagnostic> {
        let start = self.pos;
        let mut integer = true;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err_here("numbers may not have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err_here("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err_here("expected a digit after the decimal point"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err_here("expected a digit in the exponent"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(Value {
            kind: Kind::Number {
                raw: self.text[start..self.pos].to_string(),
                integer,
            },
            span: Span::new(start, self.pos),
        })
    }

    fn hex4(&mut self) -> Result<u32, Diagnostic> {
        let s = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err_here("truncated \\u escape"))?;
        let s = std::str::from_utf8(s).map_err(|_| self.err_here("bad \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err_here("bad \\u escape: expected 4 hex digits"))?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err_here("bad \\u escape: expected 4 hex digits"));
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<(String, bool), Diagnostic> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let mut out = String::new();
        let mut escaped = false;
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.err_here("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((out, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err_here("unterminated escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let esc_start = self.pos - 2;
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.src.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    self.pos = esc_start;
                                    return Err(self.err_here("lone surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    self.pos = esc_start;
                                    return Err(self.err_here("lone surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                self.pos = esc_start;
                                return Err(self.err_here("lone surrogate in \\u escape"));
                            } else {
                                hi
                            };
                            match char::from_u32(c) {
                                Some(ch) => out.push(ch),
                                None => return Err(self.err_here("invalid \\u escape")),
                            }
                        }
                        _ => {
                            self.pos -= 2;
                            return Err(self.err_here("invalid escape in string"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self
                        .err_here("control character inside a string")
                        .hint("escape it (\\n, \\t, \\u0000) or remove it"))
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value {
                kind: Kind::Array(items),
                span: Span::new(start, self.pos),
            });
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value {
                        kind: Kind::Array(items),
                        span: Span::new(start, self.pos),
                    });
                }
                _ => return Err(self.err_here("expected `,` or `]` in array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut members: Vec<(Key, Value)> = Vec::new();
        // Small objects look for duplicate keys by scanning; large ones build
        // an index once (no allocation per key in the common case).
        let mut seen: Option<BTreeMap<String, Span>> = None;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value {
                kind: Kind::Object(members),
                span: Span::new(start, self.pos),
            });
        }
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {}
                Some(b'/') => return Err(self.err_here("comments are not allowed in JSON")),
                _ => return Err(self.err_here("expected a double-quoted key")),
            }
            let kstart = self.pos;
            let (text, _) = self.string()?;
            let kspan = Span::new(kstart, self.pos);
            if seen.is_none() && members.len() >= 16 {
                let mut index = BTreeMap::new();
                for (k, _) in &members {
                    index.entry(k.text.clone()).or_insert(k.span);
                }
                seen = Some(index);
            }
            let first = match &seen {
                Some(index) => index.get(&text).copied(),
                None => members.iter().find(|(k, _)| k.text == text).map(|(k, _)| k.span),
            };
            if let Some(first) = first {
                let (l, c) = crate::diag::line_col(self.text, first.start);
                self.dups.push(
                    Diagnostic::error(Code::DuplicateKey, format!("duplicate key `{}`", printable(&text)))
                        .at(kspan)
                        .hint(format!(
                            "the first `{}` is at line {l}, column {c}; keep one",
                            printable(&text)
                        )),
                );
            } else if let Some(index) = &mut seen {
                index.insert(text.clone(), kspan);
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err_here("expected `:` after the key"));
            }
            self.pos += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            members.push((Key { text, span: kspan }, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value {
                        kind: Kind::Object(members),
                        span: Span::new(start, self.pos),
                    });
                }
                _ => return Err(self.err_here("expected `,` or `}` in object")),
            }
        }
    }
}

/// Make a string safe to show in a one-line message: control and format
/// characters become `\u{..}` escapes.
pub fn printable(s: &str) -> String {
    Printable(s).to_string()
}

/// [`printable`] as a `Display` value: the escaping happens only when it is
/// formatted, so a message that is never built (the success path) costs
/// nothing.
pub struct Printable<'a>(pub &'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            if c.is_control() || crate::diag::is_format_char(c) {
                write!(f, "\\u{{{:04x}}}", c as u32)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Output values

/// A JSON value for output. Objects are BTreeMaps, so iteration is sorted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Json {
    /// `null`
    Null,
    /// boolean
    Bool(bool),
    /// integer
    Int(i64),
    /// a non-integer number kept as written (only from `inputSchema`; never hashed)
    RawNumber(String),
    /// string
    Str(String),
    /// array
    Array(Vec<Json>),
    /// object
    Object(BTreeMap<String, Json>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl AsRef<str>) -> Json {
        Json::Str(s.as_ref().to_string())
    }

    /// An array of strings.
    pub fn strs<I, S>(items: I) -> Json
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Json::Array(items.into_iter().map(Json::str).collect())
    }

    /// RFC 8785 (JCS) serialization: no whitespace, keys sorted by UTF-16
    /// code units, minimal string escapes.
    pub fn to_compact(&self) -> String {
        let mut out = String::with_capacity(1024);
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::RawNumber(r) => out.push_str(r),
            Json::Str(s) => escape_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(map) => {
                out.push('{');
                for (i, (k, v)) in jcs_order(map).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape_str(k, out);
                    out.push(':');
                    v.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// Pretty form for files: sorted keys, two-space indent, LF, trailing newline.
    pub fn to_pretty(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.write_pretty(&mut out, 0);
        out.push('\n');
        out
    }

    fn write_pretty(&self, out: &mut String, level: usize) {
        match self {
            Json::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    indent_to(out, level + 1);
                    v.write_pretty(out, level + 1);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                indent_to(out, level);
                out.push(']');
            }
            Json::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                let n = map.len();
                for (i, (k, v)) in jcs_order(map).enumerate() {
                    indent_to(out, level + 1);
                    escape_str(k, out);
                    out.push_str(": ");
                    v.write_pretty(out, level + 1);
                    if i + 1 < n {
                        out.push(',');
                    }
                    out.push('\n');
                }
                indent_to(out, level);
                out.push('}');
            }
            other => other.write_compact(out),
        }
    }
}

/// Object entries in JCS order (UTF-16 code units). UTF-8 byte order (the
/// BTreeMap's) agrees with it unless a key has characters from U+E000 up,
/// so only such maps are re-sorted (and only they allocate).
fn jcs_order(map: &BTreeMap<String, Json>) -> Entries<'_> {
    if map.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        Entries::Resorted(entries.into_iter())
    } else {
        Entries::InOrder(map.iter())
    }
}

enum Entries<'a> {
    InOrder(std::collections::btree_map::Iter<'a, String, Json>),
    Resorted(std::vec::IntoIter<(&'a String, &'a Json)>),
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a String, &'a Json);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Entries::InOrder(i) => i.next(),
            Entries::Resorted(i) => i.next(),
        }
    }
}

fn indent_to(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = 2 * n;
    while left > 0 {
        let k = left.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        left -= k;
    }
}

/// Bytes that a JSON string cannot hold literally: controls, `"` and `\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// True if any byte needs an escape. Eight bytes at a time (SWAR): a byte
/// below 0x20, a `"` or a `\` sets the high bit of its lane; the test is
/// exact for "is there any", which is all it answers.
fn needs_escape(s: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero_lane = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let control = x.wrapping_sub(LO * 0x20) & !x & HI;
        if control | zero_lane(x ^ (LO * b'"' as u64)) | zero_lane(x ^ (LO * b'\\' as u64)) != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| NEEDS_ESCAPE[b as usize])
}

/// Append a JCS-escaped string literal.
pub fn escape_str(s: &str, out: &mut String) {
    out.push('"');
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_scan_agrees_with_the_byte_table() {
        let samples: Vec<Vec<u8>> = (0u32..2000)
            .map(|i| {
                let len = (i % 23) as usize;
                (0..len)
                    .map(|j| ((i.wrapping_mul(2654435761) >> (j % 24)) as u8).wrapping_add((j as u8).wrapping_mul(37)))
                    .collect()
            })
            .collect();
        for s in samples.iter().chain(
            [
                b"plain ascii text".to_vec(),
                b"with a \"quote\" in it".to_vec(),
                vec![0x1f; 9],
                vec![0x20; 17],
                vec![0x7f, 0x80, 0xff, 0x5c],
            ]
            .iter(),
        ) {
            let want = s.iter().any(|&b| NEEDS_ESCAPE[b as usize]);
            assert_eq!(needs_escape(s), want, "{s:?}");
        }
    }

    #[test]
    fn jcs_sorts_keys_by_utf16() {
        let mut m = BTreeMap::new();
        m.insert("\u{10000}".to_string(), Json::Int(1));
        m.insert("\u{ff61}".to_string(), Json::Int(2));
        m.insert("b".to_string(), Json::Null);
        m.insert("a".to_string(), Json::strs(["x\n", "\u{1}"]));
        assert_eq!(
            Json::Object(m).to_compact(),
            "{\"a\":[\"x\\n\",\"\\u0001\"],\"b\":null,\"\u{10000}\":1,\"\u{ff61}\":2}"
        );
    }

    #[test]
    fn rejects_duplicate_keys_and_reports_each() {
        let errs = parse(r#"{"a":1,"a":2,"b":{"c":1,"c":1}}"#).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|d| d.code == Code::DuplicateKey));
    }

    #[test]
    fn strictness() {
        for bad in [
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "'a'",
            "{a:1}",
            "\"\\ud800\"",
            "\"a\tb\"",
            "// x\n1",
            "nul",
            "[1] 2",
            "",
            "\"\\x\"",
            "1e",
            "-",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        for good in [
            "{}",
            "[]",
            "-0.5e+3",
            "\"\\ud83d\\ude00\"",
            " {\"a\" : [ true , null ] } ",
        ] {
            assert!(parse(good).is_ok(), "rejected {good:?}");
        }
    }

    #[test]
    fn depth_limit() {
        let deep = "[".repeat(MAX_DEPTH + 5) + &"]".repeat(MAX_DEPTH + 5);
        let errs = parse(&deep).unwrap_err();
        assert_eq!(errs[0].code, Code::InputLimit);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn depth_limit_at_end_of_input_points_inside_it() {
        // Found by the manifest fuzz target: the span pointed one past the end.
        for text in ["[".repeat(MAX_DEPTH + 1), "[".repeat(MAX_DEPTH + 1) + "\n"] {
            let errs = parse(&text).unwrap_err();
            assert_eq!(errs[0].code, Code::InputLimit);
            let span = errs[0].span.unwrap();
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{span:?} for len {}",
                text.len()
            );
        }
    }

    #[test]
    fn sub_span_maps_plain_strings() {
        let v = parse(r#"  "fs:read:/x""#).unwrap();
        assert_eq!(v.sub_span(3, 8), Span::new(6, 11));
    }
}

// ---------------------------------------------------------------------------
// Streaming output

/// Writes the pretty form ([`Json::to_pretty`]) directly, without building a
/// tree: the artifacts are written this way. Object keys must come in JCS
/// order (checked in debug builds); the bytes equal `to_pretty` of the same
/// value.
pub struct Writer {
    out: String,
    /// Per open container: (is object, has members, last key).
    stack: Vec<(bool, bool, String)>,
    /// A key was written and its value is due.
    after_key: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer {
            out: String::with_capacity(8192),
            stack: Vec::new(),
            after_key: false,
        }
    }

    /// Separator and indentation before a value in an array (or nothing
    /// after a key).
    fn before_value(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        let level = self.stack.len();
        if let Some(top) = self.stack.last_mut() {
            debug_assert!(!top.0, "a value in an object needs a key");
            self.out.push_str(if top.1 { ",\n" } else { "\n" });
            top.1 = true;
            indent_to(&mut self.out, level);
        }
    }

    /// An object member's key.
    pub fn key(&mut self, k: &str) -> &mut Writer {
        let level = self.stack.len();
        let top = self.stack.last_mut().expect("key outside an object");
        debug_assert!(top.0, "key inside an array");
        debug_assert!(
            !top.1 || top.2.encode_utf16().cmp(k.encode_utf16()) == std::cmp::Ordering::Less,
            "keys out of JCS order: {:?} after {:?}",
            k,
            top.2
        );
        self.out.push_str(if top.1 { ",\n" } else { "\n" });
        top.1 = true;
        if cfg!(debug_assertions) {
            top.2 = k.to_string();
        }
        indent_to(&mut self.out, level);
        escape_str(k, &mut self.out);
        self.out.push_str(": ");
        self.after_key = true;
        self
    }

    /// Open an object.
    pub fn begin_object(&mut self) -> &mut Writer {
        self.before_value();
        self.out.push('{');
        self.stack.push((true, false, String::new()));
        self
    }

    /// Open an array.
    pub fn begin_array(&mut self) -> &mut Writer {
        self.before_value();
        self.out.push('[');
        self.stack.push((false, false, String::new()));
        self
    }

    /// Close the innermost object or array.
    pub fn end(&mut self) -> &mut Writer {
        let (is_object, any, _) = self.stack.pop().expect("end without begin");
        if any {
            self.out.push('\n');
            indent_to(&mut self.out, self.stack.len());
        }
        self.out.push(if is_object { '}' } else { ']' });
        self
    }

    /// A string value.
    pub fn str(&mut self, s: &str) -> &mut Writer {
        self.before_value();
        escape_str(s, &mut self.out);
        self
    }

    /// A string value or `null`.
    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Writer {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// A boolean.
    pub fn bool(&mut self, b: bool) -> &mut Writer {
        self.before_value();
        self.out.push_str(if b { "true" } else { "false" });
        self
    }

    /// An integer.
    pub fn int(&mut self, i: i64) -> &mut Writer {
        self.before_value();
        self.out.push_str(&i.to_string());
        self
    }

    /// `null`.
    pub fn null(&mut self) -> &mut Writer {
        self.before_value();
        self.out.push_str("null");
        self
    }

    /// An array of strings.
    pub fn strs<I, S>(&mut self, items: I) -> &mut Writer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.begin_array();
        for s in items {
            self.str(s.as_ref());
        }
        self.end()
    }

    /// An object of string values from byte-sorted pairs (re-sorted into JCS
    /// order if a key needs it).
    pub fn str_map<'a, I>(&mut self, pairs: I) -> &mut Writer
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        if pairs.iter().any(|(k, _)| k.bytes().any(|b| b >= 0xEE)) {
            pairs.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        }
        self.begin_object();
        for (k, v) in pairs {
            self.key(k).str(v);
        }
        self.end()
    }

    /// A whole [`Json`] value in pretty form.
    pub fn value(&mut self, v: &Json) -> &mut Writer {
        self.before_value();
        v.write_pretty(&mut self.out, self.stack.len());
        self
    }

    /// The text, with the trailing newline.
    pub fn finish(mut self) -> String {
        debug_assert!(self.stack.is_empty(), "unclosed object or array");
        self.out.push('\n');
        self.out
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    #[test]
    fn writer_matches_to_pretty() {
        let mut inner = BTreeMap::new();
        inner.insert("a".to_string(), Json::strs(["x", "y\n"]));
        inner.insert("b".to_string(), Json::Array(vec![]));
        inner.insert("c".to_string(), Json::Object(BTreeMap::new()));
        let mut top = BTreeMap::new();
        top.insert("k".to_string(), Json::Object(inner.clone()));
        top.insert("n".to_string(), Json::Null);
        top.insert("t".to_string(), Json::Bool(true));
        top.insert("z".to_string(), Json::Int(-3));
        let want = Json::Object(top).to_pretty();

        let mut w = Writer::new();
        w.begin_object();
        w.key("k").begin_object();
        w.key("a").strs(["x", "y\n"]);
        w.key("b").begin_array().end();
        w.key("c").begin_object().end();
        w.end();
        w.key("n").null();
        w.key("t").bool(true);
        w.key("z").int(-3);
        w.end();
        assert_eq!(w.finish(), want);

        let mut w = Writer::new();
        w.begin_object().key("v").value(&Json::Object(inner)).end();
        let mut t = BTreeMap::new();
        let mut i2 = BTreeMap::new();
        i2.insert("a".to_string(), Json::strs(["x", "y\n"]));
        i2.insert("b".to_string(), Json::Array(vec![]));
        i2.insert("c".to_string(), Json::Object(BTreeMap::new()));
        t.insert("v".to_string(), Json::Object(i2));
        assert_eq!(w.finish(), Json::Object(t).to_pretty());
    }

    #[test]
    #[should_panic(expected = "JCS order")]
    #[cfg(debug_assertions)]
    fn writer_checks_key_order() {
        let mut w = Writer::new();
        w.begin_object().key("b").null().key("a").null();
    }
}
