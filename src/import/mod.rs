//! `capgate import`: other tools' server descriptions → a grammar-1
//! `capgate.json` plus a lossiness report.
//!
//! Every format lives in its own file and fills a `Builder`. Two rules hold
//! for all of them:
//!
//! - **Never wider than the source.** A grant is emitted only where the source
//!   states it. What the source says that capgate cannot express is listed in
//!   the report (`lossy`), never approximated by a wider grant.
//! - **Fail closed.** What capgate needs that the source does not say (which
//!   hosts, read or write on a user-chosen directory, …) becomes a TODO grant
//!   `todo:decide:<id>`. The compiler rejects any `todo:` capability with
//!   [`Code::ImportTodo`] (CG0510), so the manifest does not compile until a
//!   person replaces each TODO with the grants they decide on, or deletes it.
//!
//! Import is pure: text in, manifest and report out; no I/O, no environment.

mod capgate_ts;
mod docker_catalog;
mod mcp_registry;
mod mcpb;
mod report;
mod source;
mod toolhive;
mod yaml;

pub use report::{Loss, Report, Todo};

use crate::diag::{Code, Diagnostic, Span};
use crate::json::Json;
use std::collections::BTreeMap;

/// The capability kind of an import TODO: `todo:decide:<id>`.
pub const TODO_KIND: &str = "todo";

/// The diagnostic the compiler reports for an unresolved TODO.
pub fn todo_diagnostic(text: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::ImportTodo,
        format!(
            "`{}` is an unresolved import TODO: a person must decide this grant",
            crate::json::printable(text)
        ),
    )
    .at(span)
    .hint("the import report (and this entry's `why`) says what to decide; replace the entry with the grants you choose, or delete it to grant nothing")
}

/// A source format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// MCP Registry `server.json`.
    McpRegistry,
    /// MCP Bundle (formerly DXT) `manifest.json`.
    Mcpb,
    /// Docker MCP catalog `server.yaml`.
    DockerCatalog,
    /// ToolHive permission profile or registry entry (JSON).
    Toolhive,
    /// The TypeScript capgate's manifest (grammar 0.0).
    CapgateTs,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: &'static [Format] = &[
        Format::McpRegistry,
        Format::Mcpb,
        Format::DockerCatalog,
        Format::Toolhive,
        Format::CapgateTs,
    ];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::McpRegistry => "mcp-registry",
            Format::Mcpb => "mcpb",
            Format::DockerCatalog => "docker-catalog",
            Format::Toolhive => "toolhive",
            Format::CapgateTs => "capgate-ts",
        }
    }

    /// Parse a command-line name (`dxt` is MCPB's old name).
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "dxt" => Some(Format::Mcpb),
            _ => Format::ALL.iter().copied().find(|f| f.as_str() == s),
        }
    }

    /// A human name for the report.
    pub fn title(self) -> &'static str {
        match self {
            Format::McpRegistry => "MCP Registry server.json",
            Format::Mcpb => "MCP Bundle (MCPB/DXT) manifest.json",
            Format::DockerCatalog => "Docker MCP catalog server.yaml",
            Format::Toolhive => "ToolHive permission profile / registry entry",
            Format::CapgateTs => "TypeScript capgate manifest (grammar 0.0)",
        }
    }
}

/// The result of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The grammar-1 manifest.
    pub manifest: Json,
    /// What was lost and what must be decided.
    pub report: Report,
}

impl Imported {
    /// The manifest as written to `capgate.json` (sorted keys, two-space indent).
    pub fn manifest_text(&self) -> String {
        self.manifest.to_pretty()
    }
}

/// Import `text` (the source file's content) as `format`.
pub fn import(format: Format, text: &str) -> Result<Imported, Vec<Diagnostic>> {
    if text.len() > crate::manifest::MAX_MANIFEST_BYTES {
        return Err(vec![Diagnostic::error(
            Code::ImportSource,
            format!(
                "the source is {} bytes; at most {} are read",
                text.len(),
                crate::manifest::MAX_MANIFEST_BYTES
            ),
        )
        .hint("import one server's description, not a whole catalog")]);
    }
    let root = match format {
        Format::DockerCatalog => yaml::parse(text)?,
        _ => crate::json::parse(text).map_err(|ds| {
            ds.into_iter()
                .map(|mut d| {
                    d.code = Code::ImportSource;
                    d
                })
                .collect::<Vec<_>>()
        })?,
    };
    let root = source::Node::root(&root);
    match format {
        Format::McpRegistry => mcp_registry::import(root),
        Format::Mcpb => mcpb::import(root),
        Format::DockerCatalog => docker_catalog::import(root),
        Format::Toolhive => toolhive::import(root),
        Format::CapgateTs => capgate_ts::import(root),
    }
    .map_err(|d| vec![d])
}

/// One grant of the manifest being built.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cap {
    cap: String,
    why: String,
}

#[derive(Clone, Debug, Default)]
struct Tool {
    description: Option<String>,
    caps: Vec<Cap>,
}

/// Collects the manifest and the report while a format walks its source.
pub(crate) struct Builder {
    format: Format,
    name: String,
    version: String,
    image: Option<String>,
    command: Option<Vec<String>>,
    params: BTreeMap<String, String>,
    caps: Vec<Cap>,
    tools: BTreeMap<String, Tool>,
    report: Report,
}

impl Builder {
    pub fn new(format: Format, name: &str, version: &str) -> Builder {
        Builder {
            format,
            name: name.to_string(),
            version: version.to_string(),
            image: None,
            command: None,
            params: BTreeMap::new(),
            caps: Vec::new(),
            tools: BTreeMap::new(),
            report: Report::new(format, name, version),
        }
    }

    pub fn image(&mut self, field: &str, image: &str) {
        if valid_image(image) {
            self.image = Some(image.to_string());
        } else {
            self.lossy(
                field,
                image,
                "not an image reference capgate accepts (CG0110); left out",
            );
        }
    }

    pub fn command(&mut self, argv: Vec<String>) {
        self.command = Some(argv);
    }

    /// Declare a param (idempotent) and return `${NAME}`.
    pub fn param(&mut self, name: &str, description: &str) -> String {
        let name = param_name(name);
        if !self.params.contains_key(&name) {
            let d = one_line(description);
            self.params.insert(name.clone(), d.clone());
            self.report.params.insert(name.clone(), d);
        }
        format!("${{{name}}}")
    }

    /// A server-level grant the source states. A grant that is not valid
    /// grammar 1 becomes a TODO (never a different, wider grant).
    pub fn grant(&mut self, tool: Option<&str>, field: &str, cap: &str, why: &str) {
        if let Some(problem) = check_cap(cap) {
            let id = format!("invalid.{field}");
            self.todo(
                tool,
                &id,
                &format!("the source's `{cap}` ({field}) is not a valid grant: {problem}; decide what to grant"),
                &[],
            );
            return;
        }
        self.push(
            tool,
            Cap {
                cap: cap.to_string(),
                why: one_line(why),
            },
        );
    }

    /// A TODO grant: `todo:decide:<id>`, with the question as its `why`.
    pub fn todo(&mut self, tool: Option<&str>, id: &str, question: &str, suggest: &[String]) {
        let mut id = todo_id(id);
        let base = id.clone();
        let mut n = 2;
        while self
            .report
            .todos
            .iter()
            .any(|t| t.cap == format!("{TODO_KIND}:decide:{id}"))
        {
            id = format!("{base}-{n}");
            n += 1;
        }
        let cap = format!("{TODO_KIND}:decide:{id}");
        let question = one_line(question);
        self.report.todos.push(Todo {
            cap: cap.clone(),
            tool: tool.map(str::to_string),
            question: question.clone(),
            suggest: suggest.to_vec(),
        });
        self.push(tool, Cap { cap, why: question });
    }

    /// Something the source says that capgate cannot express.
    pub fn lossy(&mut self, field: &str, said: &str, reason: &str) {
        self.report.lossy.push(Loss {
            field: field.to_string(),
            said: one_line(said),
            reason: one_line(reason),
        });
    }

    /// A remark on how something was read.
    pub fn note(&mut self, text: &str) {
        self.report.notes.push(one_line(text));
    }

    /// Source fields with no effect on the sandbox.
    pub fn ignored(&mut self, field: &str) {
        self.report.ignored.insert(field.to_string());
    }

    /// Declare a tool (name checked; an invalid name is lossy).
    pub fn tool(&mut self, field: &str, name: &str, description: Option<&str>) -> bool {
        if !valid_tool_name(name) {
            self.lossy(
                field,
                name,
                "not a valid MCP tool name for capgate (CG0111); tool left out",
            );
            return false;
        }
        let t = self.tools.entry(name.to_string()).or_default();
        if t.description.is_none() {
            t.description = description.map(one_line).filter(|d| !d.is_empty());
        }
        true
    }

    fn push(&mut self, tool: Option<&str>, cap: Cap) {
        let list = match tool {
            None => &mut self.caps,
            Some(t) => &mut self.tools.entry(t.to_string()).or_default().caps,
        };
        if !list.contains(&cap) {
            list.push(cap);
        }
    }

    pub fn finish(self) -> Imported {
        let mut m = BTreeMap::new();
        m.insert("grammar".to_string(), Json::str("1"));
        m.insert("name".to_string(), Json::str(&self.name));
        m.insert("version".to_string(), Json::str(&self.version));
        if let Some(i) = &self.image {
            m.insert("image".to_string(), Json::str(i));
        }
        if let Some(c) = &self.command {
            m.insert("command".to_string(), Json::strs(c));
        }
        if !self.params.is_empty() {
            let ps = self
                .params
                .iter()
                .map(|(k, d)| {
                    let mut o = BTreeMap::new();
                    o.insert("description".to_string(), Json::str(d));
                    (k.clone(), Json::Object(o))
                })
                .collect();
            m.insert("params".to_string(), Json::Object(ps));
        }
        m.insert("capabilities".to_string(), caps_json(&self.caps));
        if !self.tools.is_empty() {
            let tools = self
                .tools
                .iter()
                .map(|(name, t)| {
                    let mut o = BTreeMap::new();
                    o.insert("name".to_string(), Json::str(name));
                    if let Some(d) = &t.description {
                        o.insert("description".to_string(), Json::str(d));
                    }
                    o.insert("capabilities".to_string(), caps_json(&t.caps));
                    Json::Object(o)
                })
                .collect();
            m.insert("tools".to_string(), Json::Array(tools));
        }
        let mut x = BTreeMap::new();
        x.insert("from".to_string(), Json::str(self.format.as_str()));
        x.insert(
            "report".to_string(),
            Json::str("run `capgate import` again to see what was lost and what to decide; see docs/import.md"),
        );
        m.insert("x-capgate-import".to_string(), Json::Object(x));
        Imported {
            manifest: Json::Object(m),
            report: self.report,
        }
    }
}

fn caps_json(caps: &[Cap]) -> Json {
    Json::Array(
        caps.iter()
            .map(|c| {
                let mut o = BTreeMap::new();
                o.insert("cap".to_string(), Json::str(&c.cap));
                o.insert("why".to_string(), Json::str(&c.why));
                Json::Object(o)
            })
            .collect(),
    )
}

/// The manifest parser's image rule (CG0110).
fn valid_image(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b))
        && !s.starts_with(['-', '.', '/', ':', '@'])
}

/// The manifest parser's tool-name rule (CG0111).
fn valid_tool_name(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
}

/// Why a literal grant would not compile in grammar 1, if it would not.
/// Grants with `${…}` placeholders are checked by compile after substitution.
fn check_cap(cap: &str) -> Option<String> {
    // The variable's name, checked whatever the value holds (a param, or
    // text compile would reject for another reason first).
    if let Some(name) = env_name(cap) {
        if crate::capability::is_sensitive_env_name(name) && !cap.contains("sensitive=allow") {
            return Some(format!(
                "`{name}` is a loader hook: it changes how programs load code or reach the network ({}), granted only with ?sensitive=allow",
                Code::SensitiveEnv
            ));
        }
    }
    if cap.contains("${") {
        return None;
    }
    let f = |a: usize, b: usize| Span::new(a, b);
    let src = crate::capability::Src { text: cap, span_of: &f };
    match crate::capability::parse(&src, crate::manifest::Grammar::V1) {
        Ok(_) => None,
        Err(d) => Some(format!("{} ({})", d.message, d.code)),
    }
}

/// The variable name of an `env:` grant.
fn env_name(cap: &str) -> Option<&str> {
    let (_, scope) = cap.strip_prefix("env:")?.split_once(':')?;
    scope.split(['=', '?']).next()
}

/// Single-line text without control or format characters, at most 500 bytes.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::new();
    for w in s.split(|c: char| c.is_whitespace() || crate::manifest::is_forbidden_char(c)) {
        if w.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    if out.len() > 500 {
        let mut end = 497;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    if out.is_empty() {
        out.push_str("(no text)");
    }
    out
}

/// `user_config.allowed-dirs` → `ALLOWED_DIRS`: a valid param name.
pub(crate) fn param_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let mut out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "P_");
    }
    out.truncate(64);
    out
}

/// A TODO id: letters, digits and `. _ -`.
fn todo_id(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    if out.is_empty() {
        "item".to_string()
    } else {
        out
    }
}

/// A version for a source without one: the image's tag or digest.
pub(crate) fn image_version(image: Option<&str>, who: &str) -> (String, String) {
    let v = image.and_then(|i| {
        let last = i.rsplit('/').next().unwrap_or(i);
        if let Some((_, d)) = i.split_once("@sha256:") {
            Some(format!("sha256-{}", d.chars().take(12).collect::<String>()))
        } else {
            last.split_once(':').map(|(_, t)| t.to_string())
        }
    });
    match v {
        Some(v) => (
            v.clone(),
            format!("{who} has no version field; `{v}` is taken from the image reference"),
        ),
        None => (
            "unversioned".to_string(),
            format!("{who} has no version field and no image tag: the version is `unversioned`; edit it"),
        ),
    }
}

/// The question every format asks when the source says nothing about egress.
pub(crate) fn net_unstated(b: &mut Builder, what: &str) {
    b.todo(
        None,
        "net",
        &format!("{what} does not say which hosts the server connects to; grant each one (net:connect:<host>:<port>), or delete this entry for no network"),
        &["net:connect:<host>:443".to_string()],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(param_name("user_config.allowed-dirs"), "USER_CONFIG_ALLOWED_DIRS");
        assert_eq!(param_name("1x"), "P_1X");
        assert_eq!(param_name("--"), "P_");
        assert_eq!(todo_id("fs:user config/x"), "fs_user_config_x");
        assert_eq!(one_line(" a\n\tb \u{202e} c "), "a b c");
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(*f));
        }
        assert_eq!(Format::parse("dxt"), Some(Format::Mcpb));
    }

    #[test]
    fn human_report_has_no_control_characters() {
        let src = "{\"name\":\"x\\u001b[2J\",\"read\":[],\"\\u001b]0;evil\\u0007\":1,\"network\":{}}";
        let out = import(Format::Toolhive, src).unwrap();
        let h = out.report.to_human();
        assert!(!h.chars().any(|c| c.is_control() && c != '\n'), "{h:?}");
        assert!(h.contains("\\u{001b}"), "{h}");
    }

    #[test]
    fn invalid_grants_become_todos() {
        let mut b = Builder::new(Format::Toolhive, "x", "1");
        b.grant(None, "read[0]", "fs:read:/etc", "w");
        b.grant(None, "read[1]", "fs:read:/srv/data", "w");
        let out = b.finish();
        assert_eq!(out.report.todos.len(), 1);
        assert!(out.report.todos[0].question.contains("CG0212"));
        let text = out.manifest_text();
        assert!(text.contains("\"cap\": \"fs:read:/srv/data\""), "{text}");
        assert!(!text.contains("\"cap\": \"fs:read:/etc\""), "{text}");
    }

    #[test]
    fn todo_caps_do_not_compile() {
        let m = br#"{"grammar":"1","name":"x","version":"1","capabilities":["todo:decide:net"]}"#;
        let e = crate::compile(m, &crate::Options::default()).unwrap_err();
        assert!(e.iter().any(|d| d.code == Code::ImportTodo), "{e:?}");
        let m = br#"{"name":"x","version":"1","serverCapabilities":[{"cap":"todo:decide:x","why":"q"}]}"#;
        let e = crate::compile(m, &crate::Options::default()).unwrap_err();
        assert!(e.iter().any(|d| d.code == Code::ImportTodo), "{e:?}");
    }
}
