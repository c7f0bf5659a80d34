//! The three renderings of a [`Delta`]: human text, Markdown for a pull
//! request comment, and JSON (`capgate.diff/1`, schemas/capgate.diff.schema.json).
//! All are deterministic: the delta is sorted and nothing else is read.

use super::{count, Change, ChangeKind, Delta, NotesDelta, ScopeDelta};
use crate::json::Writer;
use crate::policy::GrantNote;
use std::fmt::Write as _;

/// The verb of a change; limits and assertions are constraints, so they are
/// added and removed rather than granted and revoked, and raised or lowered.
fn verb(c: &Change) -> &'static str {
    let constraint = matches!(c.cap_kind, "limit" | "assert");
    match (c.kind, constraint) {
        (ChangeKind::Granted, true) => "added",
        (ChangeKind::Revoked, true) => "removed",
        (ChangeKind::Widened, true) if c.cap_kind == "limit" => "raised",
        (ChangeKind::Narrowed, true) if c.cap_kind == "limit" => "lowered",
        (k, _) => k.as_str(),
    }
}

fn arrow(c: &Change) -> String {
    match (c.old.is_empty(), c.new.is_empty()) {
        (true, _) => c.new.join(", "),
        (_, true) => c.old.join(", "),
        _ => format!("{} -> {}", c.old.join(", "), c.new.join(", ")),
    }
}

fn summary_line(changes: &[Change]) -> String {
    count(changes)
        .iter()
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 raised, 1 added` (the limit verbs that occur, in a fixed order).
fn limits_summary(d: &Delta) -> Option<String> {
    let parts: Vec<String> = ["raised", "lowered", "added", "removed"]
        .iter()
        .filter_map(|v| {
            let n = d.limits.iter().filter(|l| l.verb() == *v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn scope_title(name: Option<&str>, s: &ScopeDelta) -> String {
    let what = match name {
        None => "server-level grants".to_string(),
        Some(t) => format!("tool {t}"),
    };
    format!("{what}{}", tag(s))
}

fn tag(s: &ScopeDelta) -> &'static str {
    if s.added {
        " (new)"
    } else if s.removed {
        " (removed)"
    } else {
        ""
    }
}

/// Human text (the default output).
pub fn render_human(d: &Delta) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "capgate diff: {} {} -> {} {}",
        d.old_id.0, d.old_id.1, d.new_id.0, d.new_id.1
    );
    if d.is_empty() {
        o.push_str("no permission change\n");
        return o;
    }
    let _ = writeln!(
        o,
        "{}: {}{}",
        if d.widens() { "WIDENS" } else { "does not widen" },
        summary_line(&d.effective),
        limits_summary(d).map(|l| format!("; limits: {l}")).unwrap_or_default()
    );
    if !d.fields.is_empty() {
        o.push_str("\nheader:\n");
        for f in &d.fields {
            let _ = writeln!(o, "  {}: {} -> {}", f.field, f.old, f.new);
        }
    }
    let changes = |o: &mut String, list: &[Change]| {
        for c in list {
            let _ = writeln!(o, "  {:<9} {:<6} {}", verb(c), c.cap_kind, arrow(c));
        }
    };
    if !d.effective.is_empty() {
        o.push_str("\neffective policy:\n");
        changes(&mut o, &d.effective);
    }
    if !d.limits.is_empty() {
        o.push_str("\nlimits:\n");
        for l in &d.limits {
            let _ = writeln!(
                o,
                "  {:<9} {:<6} {} -> {}",
                l.verb(),
                l.name,
                l.old.as_deref().unwrap_or("none"),
                l.new.as_deref().unwrap_or("none")
            );
        }
    }
    if !d.env_secrets_added.is_empty() {
        let _ = writeln!(o, "\nenv secrets added: {}", d.env_secrets_added.join(", "));
    }
    let scopes = std::iter::once((None, &d.server))
        .filter(|(_, s)| !s.changes.is_empty())
        .chain(d.tools.iter().map(|(t, s)| (Some(t.as_str()), s)));
    for (name, s) in scopes {
        let _ = writeln!(o, "\n{}:", scope_title(name, s));
        changes(&mut o, &s.changes);
    }
    for (t, td) in &d.targets {
        let _ = writeln!(o, "\ntarget {}:", t.as_str());
        if let Some(e) = &td.error {
            let _ = writeln!(o, "  error: {e}");
        }
        let notes = |o: &mut String, what: &str, n: &NotesDelta| {
            for x in &n.added {
                let _ = writeln!(o, "  newly {what}: {}: {}{}", x.grant, x.reason, before(n, x));
            }
            for x in &n.removed {
                let _ = writeln!(o, "  no longer {what}: {}: {}", x.grant, x.reason);
            }
        };
        notes(&mut o, "unenforced", &td.unenforced);
        notes(&mut o, "widened", &td.widened);
        notes(&mut o, "launcher-only", &td.launcher);
    }
    o
}

/// Code span for Markdown: a backtick fence longer than any run inside.
/// Code spans show HTML and Markdown literally, so manifest text cannot
/// restyle the comment.
fn code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// Code span in a table cell: `|` escaped (GFM unescapes it inside the span).
fn cell(s: &str) -> String {
    code(&s.replace('|', "\\|"))
}

/// Free text for Markdown: HTML significant characters escaped.
fn text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn codes(list: &[String]) -> String {
    if list.is_empty() {
        return String::new();
    }
    list.iter().map(|s| cell(s)).collect::<Vec<_>>().join("<br>")
}

/// Markdown for a pull request comment: a summary table, then the details.
pub fn render_markdown(d: &Delta) -> String {
    let mut o = String::new();
    let name = if d.old_id.0 == d.new_id.0 {
        code(&d.new_id.0)
    } else {
        format!("{} → {}", code(&d.old_id.0), code(&d.new_id.0))
    };
    let _ = writeln!(
        o,
        "### capgate diff: {name} {} → {}\n",
        code(&d.old_id.1),
        code(&d.new_id.1)
    );
    if d.is_empty() {
        o.push_str("No permission change.\n");
        return o;
    }
    o.push_str(if d.widens() {
        "**⚠ This change widens the sandbox.**\n\n"
    } else {
        "This change does not widen the sandbox.\n\n"
    });
    o.push_str("| scope | granted | revoked | widened | narrowed | changed |\n");
    o.push_str("|---|---:|---:|---:|---:|---:|\n");
    let row = |o: &mut String, label: &str, list: &[Change]| {
        let c = count(list);
        let _ = writeln!(
            o,
            "| {label} | {} |",
            c.values().map(|n| n.to_string()).collect::<Vec<_>>().join(" | ")
        );
    };
    row(&mut o, "**effective policy**", &d.effective);
    if !d.server.changes.is_empty() {
        row(&mut o, &scope_title(None, &d.server), &d.server.changes);
    }
    for (t, s) in &d.tools {
        row(&mut o, &format!("tool {}{}", cell(t), tag(s)), &s.changes);
    }
    o.push('\n');
    let mut extra = Vec::new();
    if !d.limits.is_empty() {
        extra.push(format!(
            "limits: {}",
            d.limits
                .iter()
                .map(|l| format!(
                    "{} {} ({} → {})",
                    l.name,
                    l.verb(),
                    l.old.as_deref().unwrap_or("none"),
                    l.new.as_deref().unwrap_or("none")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !d.env_secrets_added.is_empty() {
        extra.push(format!(
            "env secrets added: {}",
            d.env_secrets_added
                .iter()
                .map(|s| code(s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (t, td) in &d.targets {
        let n = td.unenforced.added.len();
        if n > 0 {
            extra.push(format!("{}: {n} newly unenforced", t.as_str()));
        }
    }
    for e in &extra {
        let _ = writeln!(o, "- {e}");
    }
    if !extra.is_empty() {
        o.push('\n');
    }

    o.push_str("<details><summary>Details</summary>\n\n");
    if !d.fields.is_empty() {
        o.push_str("#### Header\n\n| field | old | new |\n|---|---|---|\n");
        for f in &d.fields {
            let _ = writeln!(o, "| {} | {} | {} |", f.field, cell(&f.old), cell(&f.new));
        }
        o.push('\n');
    }
    let table = |o: &mut String, title: &str, list: &[Change]| {
        let _ = writeln!(o, "#### {title}\n\n| change | kind | old | new |\n|---|---|---|---|");
        for c in list {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                verb(c),
                c.cap_kind,
                codes(&c.old),
                codes(&c.new)
            );
        }
        o.push('\n');
    };
    if !d.effective.is_empty() {
        table(&mut o, "Effective policy", &d.effective);
    }
    if !d.limits.is_empty() {
        o.push_str("#### Limits\n\n| change | limit | old | new |\n|---|---|---|---|\n");
        for l in &d.limits {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                l.verb(),
                l.name,
                l.old.as_deref().map(cell).unwrap_or_default(),
                l.new.as_deref().map(cell).unwrap_or_default()
            );
        }
        o.push('\n');
    }
    if !d.server.changes.is_empty() {
        table(&mut o, "Server-level grants", &d.server.changes);
    }
    for (t, s) in &d.tools {
        table(&mut o, &format!("Tool {}{}", code(t), tag(s)), &s.changes);
    }
    for (t, td) in &d.targets {
        let _ = writeln!(o, "#### Target {}\n", t.as_str());
        if let Some(e) = &td.error {
            let _ = writeln!(o, "- error: {}", text(e));
        }
        let notes = |o: &mut String, what: &str, n: &NotesDelta| {
            for x in &n.added {
                let _ = writeln!(
                    o,
                    "- newly {what}: {} — {}{}",
                    code(&x.grant),
                    text(&x.reason),
                    before(n, x)
                );
            }
            for x in &n.removed {
                let _ = writeln!(o, "- no longer {what}: {} — {}", code(&x.grant), text(&x.reason));
            }
        };
        notes(&mut o, "unenforced", &td.unenforced);
        notes(&mut o, "widened", &td.widened);
        notes(&mut o, "launcher-only", &td.launcher);
        o.push('\n');
    }
    o.push_str("</details>\n");
    o
}

fn write_changes(w: &mut Writer, list: &[Change]) {
    w.begin_array();
    for c in list {
        w.begin_object();
        w.key("change").str(verb(c));
        w.key("kind").str(c.cap_kind);
        w.key("narrows").bool(c.narrows);
        w.key("new").strs(&c.new);
        w.key("old").strs(&c.old);
        w.key("type").str(c.kind.as_str());
        w.key("widens").bool(c.widens);
        w.end();
    }
    w.end();
}

fn write_scope(w: &mut Writer, s: &ScopeDelta) {
    w.begin_object();
    w.key("added").bool(s.added);
    w.key("changes");
    write_changes(w, &s.changes);
    w.key("removed").bool(s.removed);
    w.end();
}

/// The marker of an added note the old grants already covered.
fn before(n: &NotesDelta, x: &GrantNote) -> &'static str {
    if n.covered.contains(x) {
        " (the old grants already allowed this; does not widen)"
    } else {
        ""
    }
}

fn write_notes(w: &mut Writer, n: &NotesDelta) {
    let list = |w: &mut Writer, l: &[GrantNote]| crate::policy::write_grant_notes(w, l);
    w.begin_object();
    w.key("added");
    list(w, &n.added);
    w.key("removed");
    list(w, &n.removed);
    w.end();
}

/// JSON, format `capgate.diff/1` (keys in JCS order, one trailing newline).
pub fn render_json(d: &Delta) -> String {
    let mut w = Writer::new();
    w.begin_object();
    w.key("effective");
    write_changes(&mut w, &d.effective);
    w.key("env_secrets_added").strs(&d.env_secrets_added);
    w.key("fields").begin_array();
    for f in &d.fields {
        w.begin_object();
        w.key("field").str(f.field);
        w.key("new").str(&f.new);
        w.key("old").str(&f.old);
        w.key("widens").bool(f.widens);
        w.end();
    }
    w.end();
    w.key("format").str("capgate.diff/1");
    w.key("limits").begin_array();
    for l in &d.limits {
        w.begin_object();
        w.key("change").str(l.verb());
        w.key("name").str(l.name);
        w.key("new").opt_str(l.new.as_deref());
        w.key("old").opt_str(l.old.as_deref());
        w.key("widens").bool(l.widens);
        w.end();
    }
    w.end();
    let id = |w: &mut Writer, (name, version): &(String, String)| {
        w.begin_object();
        w.key("name").str(name);
        w.key("version").str(version);
        w.end();
    };
    w.key("new");
    id(&mut w, &d.new_id);
    w.key("old");
    id(&mut w, &d.old_id);
    w.key("server");
    write_scope(&mut w, &d.server);
    w.key("summary").begin_object();
    // Keys in JCS order, not in ChangeKind order.
    let counts = count(&d.effective);
    for k in [
        ChangeKind::Changed,
        ChangeKind::Granted,
        ChangeKind::Narrowed,
        ChangeKind::Revoked,
        ChangeKind::Widened,
    ] {
        w.key(k.as_str()).int(counts[&k] as i64);
    }
    w.end();
    w.key("targets").begin_object();
    for (t, td) in &d.targets {
        w.key(t.as_str()).begin_object();
        w.key("error").opt_str(td.error.as_deref());
        w.key("launcher");
        write_notes(&mut w, &td.launcher);
        w.key("unenforced");
        write_notes(&mut w, &td.unenforced);
        w.key("widened");
        write_notes(&mut w, &td.widened);
        w.end();
    }
    w.end();
    w.key("tools").begin_object();
    for (t, s) in &d.tools {
        w.key(t);
        write_scope(&mut w, s);
    }
    w.end();
    w.key("widens").bool(d.widens());
    w.end();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_code_spans() {
        assert_eq!(code("fs:read:/a"), "`fs:read:/a`");
        assert_eq!(code("a|b"), "`a|b`");
        assert_eq!(cell("a|b"), "`a\\|b`");
        assert_eq!(code("x `y` z"), "`` x `y` z ``");
        assert_eq!(code("``"), "``` `` ```");
        assert_eq!(text("<b>&"), "&lt;b&gt;&amp;");
    }
}
