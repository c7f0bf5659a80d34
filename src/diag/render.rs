//! Rendering of diagnostics: a human form (rustc/uv style, with the source
//! line and carets) and JSON lines for machines (Bazel, Nix, CI).

use super::{Diagnostic, Span};
use crate::json::Json;
use std::collections::BTreeMap;

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let (line, before) = line_prefix(source, offset);
    (line, before.chars().count() + 1)
}

/// The 1-based line of a byte offset and the text of that line before it
/// (an offset inside a character counts from the character's start).
pub fn line_prefix(source: &str, offset: usize) -> (usize, &str) {
    let before = &source[..floor_char_boundary(source, offset.min(source.len()))];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, &before[line_start..])
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Render one diagnostic for a terminal (no colour).
pub fn render_human(d: &Diagnostic, source: &str, file_name: &str) -> String {
    let mut out = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message);
    let pad = match d.span {
        Some(span) => {
            let (line, col) = line_col(source, span.start);
            let w = line.to_string().len();
            out.push_str(&format!("{}--> {file_name}:{line}:{col}\n", " ".repeat(w)));
            out.push_str(&snippet(source, span, line));
            " ".repeat(w + 1)
        }
        None => {
            out.push_str(&format!(" --> {file_name}\n"));
            "  ".to_string()
        }
    };
    for h in &d.hints {
        out.push_str(&format!("{pad}= hint: {h}\n"));
    }
    out.push_str(&format!("{pad}= help: run `capgate explain {}` for details\n", d.code));
    out
}

/// The source line of `span` with carets under it (for other reports).
pub fn snippet(source: &str, span: Span, line: usize) -> String {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let line_start = source[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = source[start..].find('\n').map(|i| start + i).unwrap_or(source.len());
    let text = &source[line_start..line_end];
    // Replace anything unprintable so the snippet cannot mess up a terminal.
    // A tab is one column wide here (one char, one caret column), so it
    // becomes one space and the caret stays under the span.
    let safe: String = text
        .chars()
        .map(|c| {
            if c == '\t' {
                ' '
            } else if c.is_control() || is_format_char(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    // Long lines (minified manifests) are cut around the span.
    let col0 = source[line_start..start].chars().count();
    let end = floor_char_boundary(source, span.end.min(line_end).max(start));
    let width = source[start..end].chars().count().max(1);
    let (shown, caret_col) = if safe.chars().count() > 160 {
        let from = col0.saturating_sub(40);
        let s: String = safe.chars().skip(from).take(120).collect();
        (format!("…{s}…"), col0 - from + 1)
    } else {
        (safe, col0)
    };
    let width = width.min(120);
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    format!(
        "{pad} |\n{line} | {shown}\n{pad} | {}{}\n",
        " ".repeat(caret_col),
        "^".repeat(width)
    )
}

/// True for Unicode format characters (general category Cf).
pub fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Render one diagnostic as one JSON line (no trailing newline).
pub fn render_json(d: &Diagnostic, source: &str, file_name: &str) -> String {
    let mut o = BTreeMap::new();
    o.insert("code".to_string(), Json::str(d.code.as_str()));
    o.insert("severity".to_string(), Json::str(d.severity.as_str()));
    o.insert("message".to_string(), Json::str(&d.message));
    o.insert("file".to_string(), Json::str(file_name));
    o.insert(
        "hints".to_string(),
        Json::Array(d.hints.iter().map(Json::str).collect()),
    );
    match d.span {
        Some(s) => {
            let (line, col) = line_col(source, s.start);
            let mut span = BTreeMap::new();
            span.insert("start".to_string(), Json::Int(s.start as i64));
            span.insert("end".to_string(), Json::Int(s.end as i64));
            span.insert("line".to_string(), Json::Int(line as i64));
            span.insert("column".to_string(), Json::Int(col as i64));
            o.insert("span".to_string(), Json::Object(span));
        }
        None => {
            o.insert("span".to_string(), Json::Null);
        }
    }
    Json::Object(o).to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_render_as_spaces_with_the_caret_under_the_span() {
        let src = "{\n\t\t\"fs:raed:/x\"\n}";
        let start = src.find("raed").unwrap();
        let s = snippet(src, Span::new(start, start + 4), 2);
        assert!(!s.contains('\u{FFFD}') && !s.contains('\t'), "{s}");
        let lines: Vec<&str> = s.lines().collect();
        let text = lines[1].strip_prefix("2 | ").unwrap();
        let caret = lines[2].strip_prefix("  | ").unwrap();
        assert_eq!(text, "  \"fs:raed:/x\"");
        assert_eq!(caret.find('^'), text.find("raed"), "{s}");
        // Other control characters are still replaced.
        let s = snippet("a\u{1b}b", Span::new(0, 1), 1);
        assert!(s.contains('\u{FFFD}'), "{s}");
    }
}
