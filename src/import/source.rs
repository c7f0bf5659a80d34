//! Walking a parsed source document with field paths for messages.

use crate::diag::{Code, Diagnostic};
use crate::json::{Kind, Value};

/// A value of the source with its path (`packages[0].transport.type`).
#[derive(Clone)]
pub struct Node<'a> {
    v: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    /// The document root.
    pub fn root(v: &'a Value) -> Node<'a> {
        Node { v, path: String::new() }
    }

    /// The path of this value (empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The underlying value.
    pub fn value(&self) -> &'a Value {
        self.v
    }

    /// An error about this value.
    pub fn error(&self, msg: impl Into<String>) -> Diagnostic {
        let p = &self.path;
        let msg = msg.into();
        let msg = if p.is_empty() { msg } else { format!("`{p}`: {msg}") };
        Diagnostic::error(Code::ImportSource, msg).at(self.v.span)
    }

    fn wrong(&self, want: &str) -> Diagnostic {
        self.error(format!("expected {want}, found {}", self.v.type_name()))
    }

    /// Object members, in source order.
    pub fn members(&self) -> Result<Vec<(String, Node<'a>)>, Diagnostic> {
        match &self.v.kind {
            Kind::Object(ms) => Ok(ms
                .iter()
                .map(|(k, v)| {
                    (
                        k.text.clone(),
                        Node {
                            v,
                            path: join(&self.path, &k.text),
                        },
                    )
                })
                .collect()),
            _ => Err(self.wrong("an object")),
        }
    }

    /// Member `key` of an object (`None` when absent or null).
    pub fn get(&self, key: &str) -> Result<Option<Node<'a>>, Diagnostic> {
        match &self.v.kind {
            Kind::Object(ms) => Ok(ms
                .iter()
                .find(|(k, _)| k.text == key)
                .filter(|(_, v)| v.kind != Kind::Null)
                .map(|(_, v)| Node {
                    v,
                    path: join(&self.path, key),
                })),
            _ => Err(self.wrong("an object")),
        }
    }

    /// The keys of an object.
    pub fn keys(&self) -> Vec<String> {
        match &self.v.kind {
            Kind::Object(ms) => ms.iter().map(|(k, _)| k.text.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Array items.
    pub fn items(&self) -> Result<Vec<Node<'a>>, Diagnostic> {
        match &self.v.kind {
            Kind::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| Node {
                    v,
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            _ => Err(self.wrong("an array")),
        }
    }

    /// A string (numbers and booleans are read as their text, as YAML
    /// authors write `version: 1.0`).
    pub fn text(&self) -> Result<String, Diagnostic> {
        match &self.v.kind {
            Kind::String { text, .. } => Ok(text.clone()),
            Kind::Number { raw, .. } => Ok(raw.clone()),
            Kind::Bool(b) => Ok(b.to_string()),
            _ => Err(self.wrong("a string")),
        }
    }

    /// A boolean.
    pub fn bool(&self) -> Result<bool, Diagnostic> {
        match &self.v.kind {
            Kind::Bool(b) => Ok(*b),
            _ => Err(self.wrong("a boolean")),
        }
    }

    /// Whether the value is an object.
    pub fn is_object(&self) -> bool {
        matches!(self.v.kind, Kind::Object(_))
    }

    /// Whether the value is an array.
    pub fn is_array(&self) -> bool {
        matches!(self.v.kind, Kind::Array(_))
    }

    /// Compact JSON text of the value, for the report.
    pub fn show(&self) -> String {
        match &self.v.kind {
            Kind::String { text, .. } => text.clone(),
            _ => self.v.to_json().to_compact(),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Convenience: required string member.
pub fn req_text(n: &Node<'_>, key: &str) -> Result<String, Diagnostic> {
    match n.get(key)? {
        Some(v) => v.text(),
        None => Err(n
            .error(format!("`{key}` is missing"))
            .hint("the source format requires it")),
    }
}

/// Convenience: optional string member.
pub fn opt_text(n: &Node<'_>, key: &str) -> Result<Option<String>, Diagnostic> {
    match n.get(key)? {
        Some(v) => v.text().map(Some),
        None => Ok(None),
    }
}

/// Convenience: optional bool member (absent = false).
pub fn flag(n: &Node<'_>, key: &str) -> Result<bool, Diagnostic> {
    match n.get(key)? {
        Some(v) => v.bool(),
        None => Ok(false),
    }
}
