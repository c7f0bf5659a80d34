//! YAML (for the Docker MCP catalog) → the JSON value tree, with spans.
//!
//! Built from parser events so that anchors and aliases can be refused
//! (an alias bomb expands exponentially) and every node keeps its position.
//! Plain scalars are typed the YAML 1.2 core-schema way: `true`/`false`,
//! `null`/`~`/empty, integers and floats; everything else is a string.

use crate::diag::{Code, Diagnostic, Span};
use crate::json::{Key, Kind, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const MAX_DEPTH: usize = 64;

enum Frame {
    Seq(Vec<Value>, Span),
    Map(Vec<(Key, Value)>, Option<Key>, Span),
}

struct Builder<'t> {
    byte_at: Vec<usize>,
    text: &'t str,
    stack: Vec<Frame>,
    docs: Vec<Value>,
    error: Option<Diagnostic>,
}

impl Builder<'_> {
    fn span(&self, m: Marker) -> Span {
        let at = self.byte_at.get(m.index()).copied().unwrap_or(self.text.len());
        Span::new(at, (at + 1).min(self.text.len().max(1)))
    }

    fn fail(&mut self, d: Diagnostic) {
        if self.error.is_none() {
            self.error = Some(d);
        }
    }

    fn put(&mut self, v: Value) {
        if let Err(d) = self.put_inner(v) {
            self.fail(d);
        }
    }

    fn put_inner(&mut self, v: Value) -> Result<(), Diagnostic> {
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(members, key, _)) => match key.take() {
                None => {
                    let text = match &v.kind {
                        Kind::String { text, .. } => text.clone(),
                        Kind::Number { raw, .. } => raw.clone(),
                        Kind::Bool(b) => b.to_string(),
                        Kind::Null => String::new(),
                        _ => {
                            let d = Diagnostic::error(Code::ImportSource, "a YAML mapping key is not a scalar")
                                .at(v.span)
                                .hint("write keys as plain text");
                            return Err(d);
                        }
                    };
                    if members.iter().any(|(k, _)| k.text == text) {
                        let d = Diagnostic::error(
                            Code::ImportSource,
                            format!("the key `{}` appears twice", crate::json::printable(&text)),
                        )
                        .at(v.span)
                        .hint("a duplicated key is ambiguous: keep one");
                        return Err(d);
                    }
                    *key = Some(Key { text, span: v.span });
                }
                Some(k) => members.push((k, v)),
            },
        }
        Ok(())
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let span = self.span(mark);
        match ev {
            Event::Alias(_) => self.fail(
                Diagnostic::error(Code::ImportSource, "YAML aliases are not supported")
                    .at(span)
                    .hint("write the value out instead of `*alias`"),
            ),
            Event::Scalar(s, style, anchor, _) => {
                if anchor != 0 {
                    // anchors are harmless without aliases; keep going
                }
                let kind = if style == TScalarStyle::Plain {
                    plain(&s)
                } else {
                    Kind::String { text: s, escaped: true }
                };
                self.put(Value { kind, span });
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(
                        Diagnostic::error(
                            Code::ImportSource,
                            format!("the YAML nests deeper than {MAX_DEPTH} levels"),
                        )
                        .at(span),
                    );
                    return;
                }
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), span)
                } else {
                    Frame::Map(Vec::new(), None, span)
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let v = match self.stack.pop() {
                    Some(Frame::Seq(items, s)) => Value {
                        kind: Kind::Array(items),
                        span: s,
                    },
                    Some(Frame::Map(members, _, s)) => Value {
                        kind: Kind::Object(members),
                        span: s,
                    },
                    None => return,
                };
                self.put(v);
            }
            _ => {}
        }
    }
}

fn plain(s: &str) -> Kind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Kind::Number {
            raw: s.to_string(),
            integer: true,
        };
    }
    if s.parse::<f64>().is_ok() && s.bytes().any(|b| b.is_ascii_digit()) && !s.contains(char::is_alphabetic) {
        return Kind::Number {
            raw: s.to_string(),
            integer: false,
        };
    }
    Kind::String {
        text: s.to_string(),
        escaped: true,
    }
}

/// Parse one YAML document.
pub fn parse(text: &str) -> Result<Value, Vec<Diagnostic>> {
    let mut byte_at: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    byte_at.push(text.len());
    let mut b = Builder {
        byte_at,
        text,
        stack: Vec::new(),
        docs: Vec::new(),
        error: None,
    };
    let mut p = Parser::new_from_str(text);
    if let Err(e) = p.load(&mut b, true) {
        let at = b.span(*e.marker());
        return Err(vec![Diagnostic::error(
            Code::ImportSource,
            format!("not valid YAML: {}", e.info()),
        )
        .at(at)
        .hint("check the indentation and quoting around this place")]);
    }
    if let Some(d) = b.error {
        return Err(vec![d]);
    }
    match b.docs.len() {
        1 => Ok(b.docs.pop().expect("one document")),
        0 => Err(vec![Diagnostic::error(Code::ImportSource, "the YAML file is empty")]),
        n => Err(vec![Diagnostic::error(
            Code::ImportSource,
            format!("the YAML file holds {n} documents; import one server at a time"),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_nesting() {
        let v = parse("a: 1\nb: [x, 'true', true]\nc:\n  d: ~\n").unwrap();
        assert_eq!(
            v.to_json().to_compact(),
            r#"{"a":1,"b":["x","true",true],"c":{"d":null}}"#
        );
    }

    #[test]
    fn hostile() {
        let bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
        assert!(parse(bomb).unwrap_err()[0].message.contains("aliases"));
        assert!(parse("a: 1\na: 2\n").unwrap_err()[0].message.contains("twice"));
        assert!(parse("a: [\n").is_err());
        assert!(parse(&"[".repeat(200)).is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("").is_err());
    }
}
