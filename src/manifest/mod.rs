//! Stage 1: manifest text → [`Manifest`], a typed view that keeps spans.
//!
//! Strict: unknown keys (other than `$schema` and `x-*`) are errors, types
//! are checked, duplicate tool names are errors, and every problem of the
//! manifest is reported in one pass. Capability strings are kept as text
//! here; stage 2 ([`crate::capability`]) parses them after params are
//! substituted ([`params`]).

pub mod params;

use crate::diag::{is_format_char, Code, Diagnostic, Diagnostics, Span};
use crate::json::{self, Kind, Value};
use std::collections::BTreeMap;

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The grammar a manifest is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grammar {
    /// The TypeScript capgate's grammar (`"0.0"` or no `grammar` key).
    Compat,
    /// Grammar 1.
    V1,
}

impl Grammar {
    /// `"0.0"` or `"1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grammar::Compat => "0.0",
            Grammar::V1 => "1",
        }
    }
}

/// The runtime's base view of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// `/usr` read-only plus the merged-/usr symlinks.
    Debian,
    /// `/nix/store` read-only.
    Nix,
    /// Nothing the manifest does not name.
    None,
}

impl Profile {
    /// `debian`, `nix` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Debian => "debian",
            Profile::Nix => "nix",
            Profile::None => "none",
        }
    }
}

/// A string from the manifest with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The decoded text.
    pub text: String,
    /// Span of the JSON string literal (with quotes).
    pub span: Span,
    /// The literal had escapes, so inner spans cannot be mapped.
    pub escaped: bool,
}

impl Text {
    fn from_value(v: &Value) -> Option<Text> {
        match &v.kind {
            Kind::String { text, escaped } => Some(Text {
                text: text.clone(),
                span: v.span,
                escaped: *escaped,
            }),
            _ => None,
        }
    }

    /// Span of bytes `[from, to)` of the text, or of the whole literal.
    pub fn sub_span(&self, from: usize, to: usize) -> Span {
        if self.escaped || from > to || to > self.text.len() {
            return self.span;
        }
        let start = self.span.start + 1 + from;
        Span::new(start, (self.span.start + 1 + to).max(start + 1))
    }
}

/// One capability as written: its text and optional `why`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapEntry {
    /// The capability string.
    pub cap: Text,
    /// The author's reason, carried into artifacts.
    pub why: Option<String>,
}

/// A declared tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    /// Tool name (unique).
    pub name: Text,
    /// Its capabilities.
    pub capabilities: Vec<CapEntry>,
}

/// A declared param.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamDecl {
    /// Where it is declared.
    pub span: Span,
    /// Its description.
    pub description: Option<String>,
}

/// A manifest, checked for shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The grammar.
    pub grammar: Grammar,
    /// Server name.
    pub name: Text,
    /// Server version.
    pub version: Text,
    /// Base view.
    pub profile: Profile,
    /// Container image for the docker target.
    pub image: Option<Text>,
    /// What runs in the sandbox (with placeholders).
    pub command: Option<Vec<Text>>,
    /// Declared params.
    pub params: BTreeMap<String, ParamDecl>,
    /// Server-level capabilities.
    pub capabilities: Vec<CapEntry>,
    /// Tools.
    pub tools: Vec<Tool>,
    /// Span of the whole document.
    pub span: Span,
}

/// Parse and shape-check a manifest.
pub fn parse(source: &[u8]) -> Result<Manifest, Diagnostics> {
    let (m, diags) = parse_partial(source)?;
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(m)
}

/// Parse as much as the shape allows: JSON errors stop here, but shape
/// errors come back beside a best-effort [`Manifest`] so later stages can
/// report their problems in the same run.
pub fn parse_partial(source: &[u8]) -> Result<(Manifest, Diagnostics), Diagnostics> {
    let text = decode(source)?;
    let root = json::parse(text).map_err(Diagnostics)?;
    let mut cx = Cx {
        diags: Diagnostics::default(),
        text,
    };
    match cx.manifest(&root) {
        Some(m) => Ok((m, cx.diags)),
        None => Err(cx.diags),
    }
}

/// Check size and encoding; return the text.
pub fn decode(source: &[u8]) -> Result<&str, Diagnostics> {
    let one = |d: Diagnostic| Err(Diagnostics(vec![d]));
    if source.len() > MAX_MANIFEST_BYTES {
        return one(Diagnostic::error(
            Code::InputLimit,
            format!(
                "the manifest is {} bytes; the limit is {} bytes",
                source.len(),
                MAX_MANIFEST_BYTES
            ),
        )
        .hint("a manifest lists grants, not data; split it or drop large inputSchema blocks"));
    }
    if source.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return one(
            Diagnostic::error(Code::Encoding, "the manifest starts with a UTF-8 byte order mark")
                .at(Span::new(0, 3))
                .hint("save the file as UTF-8 without BOM"),
        );
    }
    match std::str::from_utf8(source) {
        Ok(t) => Ok(t),
        Err(e) => {
            let at = e.valid_up_to();
            one(Diagnostic::error(Code::Encoding, "the manifest is not valid UTF-8")
                .at(Span::new(at, at + 1))
                .hint("manifests are UTF-8 JSON (RFC 8259)"))
        }
    }
}

/// The diagnostic for a manifest of `size` bytes over the limit (callers
/// that see the size first, like the CLI, use it without reading the file).
pub fn too_large(size: u64) -> Diagnostic {
    Diagnostic::error(
        Code::InputLimit,
        format!("the manifest is {size} bytes; the limit is {MAX_MANIFEST_BYTES} bytes"),
    )
    .hint("a manifest lists grants, not data; split it or drop large inputSchema blocks")
}

/// True if `c` may not appear in single-line text (Cc, Cf, line/paragraph separators).
pub fn is_forbidden_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control() || is_format_char(c) || c == '\u{2028}' || c == '\u{2029}'
}

struct Cx<'t> {
    diags: Diagnostics,
    text: &'t str,
}

/// The top-level keys a manifest may have (besides `x-*`; `serverCapabilities` only in grammar 0.0).
pub const TOP_KEYS: &[&str] = &[
    "$schema",
    "grammar",
    "name",
    "version",
    "profile",
    "image",
    "command",
    "params",
    "capabilities",
    "serverCapabilities",
    "tools",
];
/// The keys a tool may have (besides `x-*`).
pub const TOOL_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "capabilities",
];

impl Cx<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Free-form values (`x-*`, tool `annotations`) may not hold non-integer
    /// numbers: only schemas do (RFC 8785 hashing stays exact).
    fn integers_only(&mut self, v: &Value) {
        match &v.kind {
            Kind::Number { integer: false, raw } => self.err(
                Diagnostic::error(
                    Code::WrongType,
                    format!("non-integer number `{raw}` outside inputSchema"),
                )
                .at(v.span)
                .hint("write it as a string, or an integer"),
            ),
            Kind::Array(items) => items.iter().for_each(|i| self.integers_only(i)),
            Kind::Object(members) => members.iter().for_each(|(_, m)| self.integers_only(m)),
            _ => {}
        }
    }

    fn object<'v>(&mut self, v: &'v Value, what: &str) -> Option<&'v [(json::Key, Value)]> {
        match &v.kind {
            Kind::Object(m) => Some(m),
            _ => {
                self.err(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("{what} must be an object, found {}", v.type_name()),
                    )
                    .at(v.span),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Value, what: &str) -> Option<Text> {
        match Text::from_value(v) {
            Some(t) => Some(t),
            None => {
                let mut d = Diagnostic::error(
                    Code::WrongType,
                    format!("{what} must be a string, found {}", v.type_name()),
                )
                .at(v.span);
                if matches!(v.kind, Kind::Number { .. }) {
                    d = d.hint("put the value in double quotes");
                }
                self.err(d);
                None
            }
        }
    }

    /// A string with no control or format characters, not empty.
    fn line(&mut self, v: &Value, what: &str) -> Option<Text> {
        let t = self.string(v, what)?;
        if t.text.is_empty() {
            self.err(Diagnostic::error(Code::EmptyValue, format!("{what} is empty")).at(v.span));
            return None;
        }
        if let Some((i, c)) = t.text.char_indices().find(|(_, c)| is_forbidden_char(*c)) {
            self.err(
                Diagnostic::error(
                    Code::ForbiddenCharacter,
                    format!("{what} contains the character U+{:04X}", c as u32),
                )
                .at(t.sub_span(i, i + c.len_utf8()))
                .hint("control and invisible format characters (bidi overrides, zero-width spaces) are not allowed"),
            );
            return None;
        }
        Some(t)
    }

    fn unknown_key(&mut self, k: &json::Key, allowed: &[&str], hint: Option<String>) {
        let mut d = Diagnostic::error(
            Code::UnknownField,
            format!("unknown field `{}`", json::printable(&k.text)),
        )
        .at(k.span);
        if let Some(h) = hint {
            d = d.hint(h);
        } else if let Some(best) = closest(&k.text, allowed) {
            d = d.hint(format!("did you mean `{best}`?"));
        } else {
            d = d.hint(format!(
                "known fields: {}; extensions must start with `x-`",
                allowed.join(", ")
            ));
        }
        self.err(d);
    }

    fn manifest(&mut self, root: &Value) -> Option<Manifest> {
        let members = self.object(root, "the manifest")?;
        let get = |name: &str| members.iter().find(|(k, _)| k.text == name).map(|(_, v)| v);

        // Grammar first: it decides which keys exist.
        let grammar = match get("grammar") {
            None => Grammar::Compat,
            Some(v) => match v.as_str() {
                Some("1") => Grammar::V1,
                Some("0.0") => Grammar::Compat,
                Some(other) => {
                    self.err(
                        Diagnostic::error(
                            Code::GrammarVersion,
                            format!("grammar `{}` is not supported", json::printable(other)),
                        )
                        .at(v.span)
                        .hint("use \"1\" (this capgate's grammar) or \"0.0\" (TypeScript capgate manifests)"),
                    );
                    Grammar::V1
                }
                None => {
                    let mut d = Diagnostic::error(
                        Code::WrongType,
                        format!("`grammar` must be a string, found {}", v.type_name()),
                    )
                    .at(v.span);
                    if matches!(v.kind, Kind::Number { .. }) {
                        d = d.hint("write \"1\" with quotes");
                    }
                    self.err(d);
                    Grammar::V1
                }
            },
        };

        for (k, v) in members {
            if k.text.starts_with("x-") {
                self.integers_only(v);
            }
            let allowed = k.text.starts_with("x-")
                || (TOP_KEYS.contains(&k.text.as_str()) && !(k.text == "serverCapabilities" && grammar == Grammar::V1));
            if !allowed {
                let hint = (k.text == "serverCapabilities").then(|| "grammar 1 calls it `capabilities`".to_string());
                self.unknown_key(k, TOP_KEYS, hint);
            }
        }

        if let Some(v) = get("$schema") {
            self.string(v, "`$schema`");
        }
        let name = match get("name") {
            Some(v) => self.line(v, "`name`"),
            None => {
                self.err(
                    Diagnostic::error(Code::MissingField, "the manifest has no `name`")
                        .at(Span::new(root.span.start, root.span.start + 1))
                        .hint("add \"name\": \"<the server's package name>\""),
                );
                None
            }
        };
        let version = match get("version") {
            Some(v) => self.line(v, "`version`"),
            None => {
                self.err(
                    Diagnostic::error(Code::MissingField, "the manifest has no `version`")
                        .at(Span::new(root.span.start, root.span.start + 1))
                        .hint("add \"version\": \"<the server's version>\""),
                );
                None
            }
        };
        let profile = match get("profile") {
            None => Profile::Debian,
            Some(v) => match self.string(v, "`profile`").as_ref().map(|t| t.text.as_str()) {
                Some("debian") => Profile::Debian,
                Some("nix") => Profile::Nix,
                Some("none") => Profile::None,
                Some(other) => {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownProfile,
                            format!("unknown profile `{}`", json::printable(other)),
                        )
                        .at(v.span)
                        .hint("use \"debian\" (the default), \"nix\" or \"none\""),
                    );
                    Profile::Debian
                }
                None => Profile::Debian,
            },
        };
        let image = get("image").and_then(|v| self.image(v));
        let command = get("command").and_then(|v| self.command(v));
        let params = get("params").map(|v| self.params(v)).unwrap_or_default();

        let mut capabilities = Vec::new();
        let server_caps = get("serverCapabilities").filter(|_| grammar == Grammar::Compat);
        match (get("capabilities"), server_caps) {
            (Some(a), Some(b)) => {
                let _ = a;
                self.err(
                    Diagnostic::error(
                        Code::ConflictingFields,
                        "both `capabilities` and `serverCapabilities` are present",
                    )
                    .at(b.span)
                    .hint("they mean the same thing; merge them into `capabilities`"),
                );
            }
            (Some(v), None) | (None, Some(v)) => capabilities = self.cap_list(v),
            (None, None) => {}
        }

        let mut tools = Vec::new();
        if let Some(v) = get("tools") {
            if let Kind::Array(items) = &v.kind {
                let mut seen: BTreeMap<String, Span> = BTreeMap::new();
                for item in items {
                    if let Some(t) = self.tool(item) {
                        if let Some(first) = seen.get(&t.name.text) {
                            let (l, c) = crate::diag::line_col(self.text, first.start);
                            self.err(
                                Diagnostic::error(
                                    Code::DuplicateTool,
                                    format!("tool `{}` is declared twice", t.name.text),
                                )
                                .at(t.name.span)
                                .hint(format!(
                                    "the first declaration is at line {l}, column {c}; merge the two into one tool"
                                )),
                            );
                        } else {
                            seen.insert(t.name.text.clone(), t.name.span);
                        }
                        // Kept (the manifest is already rejected) so its capabilities are checked too.
                        tools.push(t);
                    }
                }
            } else {
                self.err(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("`tools` must be an array, found {}", v.type_name()),
                    )
                    .at(v.span),
                );
            }
        }

        let placeholder = || Text {
            text: String::new(),
            span: root.span,
            escaped: false,
        };
        Some(Manifest {
            grammar,
            name: name.unwrap_or_else(placeholder),
            version: version.unwrap_or_else(placeholder),
            profile,
            image,
            command,
            params,
            capabilities,
            tools,
            span: root.span,
        })
    }

    fn image(&mut self, v: &Value) -> Option<Text> {
        let t = self.line(v, "`image`")?;
        let ok_chars = t
            .text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b));
        if !ok_chars || t.text.starts_with(['-', '.', '/', ':', '@']) || t.text.len() > 512 {
            self.err(
                Diagnostic::error(
                    Code::BadImage,
                    format!("`{}` is not a container image reference", json::printable(&t.text)),
                )
                .at(t.span)
                .hint("use a reference such as registry.example/team/server@sha256:<digest>"),
            );
            return None;
        }
        Some(t)
    }

    fn command(&mut self, v: &Value) -> Option<Vec<Text>> {
        let Kind::Array(items) = &v.kind else {
            self.err(
                Diagnostic::error(
                    Code::WrongType,
                    format!("`command` must be an array of strings, found {}", v.type_name()),
                )
                .at(v.span)
                .hint("write the argv as an array: [\"/usr/bin/node\", \"${PKG}/dist/index.js\"]"),
            );
            return None;
        };
        if items.is_empty() {
            self.err(
                Diagnostic::error(Code::BadCommand, "`command` is empty")
                    .at(v.span)
                    .hint("name the program to run, or drop `command` and pass it to `capgate exec -- ...`"),
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let what = format!("`command[{i}]`");
            let t = if i == 0 {
                self.line(item, &what)
            } else {
                self.string(item, &what)
            };
            let Some(t) = t else { continue };
            if let Some((j, c)) = t.text.char_indices().find(|(_, c)| is_forbidden_char(*c)) {
                self.err(
                    Diagnostic::error(
                        Code::ForbiddenCharacter,
                        format!("{what} contains the character U+{:04X}", c as u32),
                    )
                    .at(t.sub_span(j, j + c.len_utf8())),
                );
                continue;
            }
            if i == 0 && t.text.starts_with('-') {
                self.err(
                    Diagnostic::error(Code::BadCommand, "the program in `command` starts with `-`")
                        .at(t.span)
                        .hint("the first element is the program to run, such as /usr/bin/node"),
                );
                continue;
            }
            out.push(t);
        }
        (out.len() == items.len()).then_some(out)
    }

    fn params(&mut self, v: &Value) -> BTreeMap<String, ParamDecl> {
        let mut out = BTreeMap::new();
        let Some(members) = self.object(v, "`params`") else {
            return out;
        };
        for (k, pv) in members {
            if !params::valid_name(&k.text) {
                self.err(
                    Diagnostic::error(
                        Code::BadParamName,
                        format!("`{}` is not a valid param name", json::printable(&k.text)),
                    )
                    .at(k.span)
                    .hint("param names are letters, digits and `_`, not starting with a digit (PKG, DATA_DIR)"),
                );
                continue;
            }
            let mut description = None;
            if let Some(fields) = self.object(pv, &format!("param `{}`", k.text)) {
                for (fk, fv) in fields {
                    match fk.text.as_str() {
                        "description" => description = self.string(fv, "a param's `description`").map(|t| t.text),
                        x if x.starts_with("x-") => self.integers_only(fv),
                        _ => self.unknown_key(fk, &["description"], None),
                    }
                }
            }
            out.insert(
                k.text.clone(),
                ParamDecl {
                    span: k.span,
                    description,
                },
            );
        }
        out
    }

    fn cap_list(&mut self, v: &Value) -> Vec<CapEntry> {
        let Kind::Array(items) = &v.kind else {
            self.err(
                Diagnostic::error(
                    Code::WrongType,
                    format!("a capability list must be an array, found {}", v.type_name()),
                )
                .at(v.span),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match &item.kind {
                Kind::String { .. } => out.push(CapEntry {
                    cap: Text::from_value(item).expect("string"),
                    why: None,
                }),
                Kind::Object(fields) => {
                    let mut cap = None;
                    let mut why = None;
                    for (k, fv) in fields {
                        match k.text.as_str() {
                            "cap" => cap = self.string(fv, "`cap`"),
                            "why" => why = self.line(fv, "`why`").map(|t| t.text),
                            x if x.starts_with("x-") => self.integers_only(fv),
                            _ => self.unknown_key(k, &["cap", "why"], None),
                        }
                    }
                    match cap {
                        Some(cap) => out.push(CapEntry { cap, why }),
                        None if !fields.iter().any(|(k, _)| k.text == "cap") => self.err(
                            Diagnostic::error(Code::MissingField, "a capability object has no `cap`")
                                .at(item.span)
                                .hint("write { \"cap\": \"fs:read:/data/**\", \"why\": \"...\" }"),
                        ),
                        None => {}
                    }
                }
                _ => self.err(
                    Diagnostic::error(
                        Code::WrongType,
                        format!(
                            "a capability must be a string or {{\"cap\", \"why\"}} object, found {}",
                            item.type_name()
                        ),
                    )
                    .at(item.span),
                ),
            }
        }
        out
    }

    fn tool(&mut self, v: &Value) -> Option<Tool> {
        let fields = self.object(v, "a tool")?;
        let mut name = None;
        let mut caps = Vec::new();
        let mut saw_name = false;
        for (k, fv) in fields {
            match k.text.as_str() {
                "name" => {
                    saw_name = true;
                    name = self.line(fv, "a tool's `name`");
                    if let Some(n) = &name {
                        let ok = n.text.len() <= 128
                            && n.text
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b));
                        if !ok {
                            self.err(
                                Diagnostic::error(
                                    Code::BadToolName,
                                    format!("`{}` is not a valid tool name", json::printable(&n.text)),
                                )
                                .at(n.span)
                                .hint("MCP tool names are 1-128 characters of A-Z, a-z, 0-9, `_`, `-`, `.` and `/`"),
                            );
                            name = None;
                        }
                    }
                }
                "capabilities" => caps = self.cap_list(fv),
                "description" | "title" => {
                    self.string(fv, &format!("a tool's `{}`", k.text));
                }
                "inputSchema" | "outputSchema" => {
                    self.object(fv, &format!("a tool's `{}`", k.text));
                }
                "annotations" => {
                    self.object(fv, "a tool's `annotations`");
                    self.integers_only(fv);
                }
                x if x.starts_with("x-") => self.integers_only(fv),
                _ => self.unknown_key(k, TOOL_KEYS, None),
            }
        }
        if !saw_name {
            self.err(Diagnostic::error(Code::MissingField, "a tool has no `name`").at(v.span));
        }
        Some(Tool {
            name: name?,
            capabilities: caps,
        })
    }
}

/// The allowed word closest to `word` (edit distance ≤ 2), for "did you mean".
pub fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(&word.to_ascii_lowercase(), &a.to_ascii_lowercase()), *a))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
