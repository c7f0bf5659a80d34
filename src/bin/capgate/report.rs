//! Rendering diagnostics and failures to stderr.

use crate::args::Format;
use capgate::{diag, Diagnostics};

/// Print diagnostics of one manifest to stderr.
pub fn diagnostics(ds: &Diagnostics, source: &[u8], file: &str, format: Format) {
    eprint!("{}", render(ds, source, file, format));
}

/// The diagnostics of one manifest as `diagnostics` prints them.
pub fn render(ds: &Diagnostics, source: &[u8], file: &str, format: Format) -> String {
    let text = String::from_utf8_lossy(source);
    let mut out = String::new();
    for d in ds.iter() {
        match format {
            Format::Human => {
                out.push_str(&diag::render_human(d, &text, file));
                out.push('\n');
            }
            Format::Json => {
                out.push_str(&diag::render_json(d, &text, file));
                out.push('\n');
            }
        }
    }
    if format == Format::Human {
        let errors = ds.iter().filter(|d| d.is_error()).count();
        let warnings = ds.len() - errors;
        if errors > 0 {
            out.push_str(&format!(
                "error: {file} was rejected: {errors} error{}{}\n",
                if errors == 1 { "" } else { "s" },
                if warnings > 0 {
                    format!(", {warnings} warning{}", if warnings == 1 { "" } else { "s" })
                } else {
                    String::new()
                }
            ));
        }
    }
    out
}

/// A usage or I/O failure (exit 2).
pub fn failure(msg: &str, format: Format) -> u8 {
    eprint!("{}", failure_text(msg, format));
    2
}

/// The line `failure` prints.
pub fn failure_text(msg: &str, format: Format) -> String {
    match format {
        Format::Human => format!("error: {msg}\n"),
        Format::Json => {
            let mut o = std::collections::BTreeMap::new();
            o.insert("severity".to_string(), capgate::json::Json::str("error"));
            o.insert("code".to_string(), capgate::json::Json::Null);
            o.insert("message".to_string(), capgate::json::Json::str(msg));
            format!("{}\n", capgate::json::Json::Object(o).to_compact())
        }
    }
}
