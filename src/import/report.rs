//! The lossiness report: what the source says that capgate cannot express,
//! and what capgate needs that the source does not say (the TODOs).

use super::Format;
use crate::json::Writer;
use std::collections::{BTreeMap, BTreeSet};

/// A TODO grant the manifest carries until a person decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Todo {
    /// The capability text in the manifest (`todo:decide:<id>`).
    pub cap: String,
    /// The tool it was placed in (`None`: server level).
    pub tool: Option<String>,
    /// What to decide.
    pub question: String,
    /// Example grants that would resolve it.
    pub suggest: Vec<String>,
}

/// Something the source says that the manifest does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// The source field (`run.volumes[1]`).
    pub field: String,
    /// What it said.
    pub said: String,
    /// Why capgate does not carry it, and what it did instead.
    pub reason: String,
}

/// The report of one import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The source format.
    pub format: Format,
    /// The server's name.
    pub name: String,
    /// The server's version.
    pub version: String,
    /// What a person must decide, in manifest order.
    pub todos: Vec<Todo>,
    /// What was lost, in source order.
    pub lossy: Vec<Loss>,
    /// Params the manifest declares (name → description); values are given at compile time.
    pub params: BTreeMap<String, String>,
    /// How things were read.
    pub notes: Vec<String>,
    /// Source fields with no effect on the sandbox (descriptions, icons, …).
    pub ignored: BTreeSet<String>,
}

impl Report {
    pub(crate) fn new(format: Format, name: &str, version: &str) -> Report {
        Report {
            format,
            name: name.to_string(),
            version: version.to_string(),
            todos: Vec::new(),
            lossy: Vec::new(),
            params: BTreeMap::new(),
            notes: Vec::new(),
            ignored: BTreeSet::new(),
        }
    }

    /// `capgate.import-report/1` JSON (sorted keys, trailing newline).
    pub fn to_json(&self) -> String {
        let mut w = Writer::new();
        w.begin_object();
        w.key("format").str("capgate.import-report/1");
        w.key("ignored").strs(&self.ignored);
        w.key("lossy").begin_array();
        for l in &self.lossy {
            w.begin_object();
            w.key("field").str(&l.field);
            w.key("reason").str(&l.reason);
            w.key("said").str(&l.said);
            w.end();
        }
        w.end();
        w.key("name").str(&self.name);
        w.key("notes").strs(&self.notes);
        w.key("params").begin_object();
        for (k, v) in &self.params {
            w.key(k).str(v);
        }
        w.end();
        w.key("source_format").str(self.format.as_str());
        w.key("todos").begin_array();
        for t in &self.todos {
            w.begin_object();
            w.key("cap").str(&t.cap);
            w.key("question").str(&t.question);
            w.key("suggest").strs(&t.suggest);
            w.key("tool").opt_str(t.tool.as_deref());
            w.end();
        }
        w.end();
        w.key("version").str(&self.version);
        w.end();
        let mut s = w.finish();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s
    }

    /// The human report.
    pub fn to_human(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "imported {} {} ({})\n",
            self.name,
            self.version,
            self.format.title()
        ));
        o.push_str(&format!(
            "{} TODO{} to decide, {} lossy field{}, {} param{}\n",
            self.todos.len(),
            plural(self.todos.len()),
            self.lossy.len(),
            plural(self.lossy.len()),
            self.params.len(),
            plural(self.params.len())
        ));
        if !self.todos.is_empty() {
            o.push_str("\nTODO: the manifest fails to compile (CG0510) until each entry is replaced by the grants you decide on, or deleted:\n");
            for t in &self.todos {
                let place = match &t.tool {
                    Some(tool) => format!("tool {tool}"),
                    None => "server".to_string(),
                };
                o.push_str(&format!("  {} ({place})\n    {}\n", t.cap, t.question));
                for s in &t.suggest {
                    o.push_str(&format!("    e.g. {s}\n"));
                }
            }
        }
        if !self.lossy.is_empty() {
            o.push_str("\nLossy: the source says this, the manifest does not carry it:\n");
            for l in &self.lossy {
                o.push_str(&format!("  {}: {}\n    {}\n", l.field, l.said, l.reason));
            }
        }
        if !self.params.is_empty() {
            o.push_str("\nParams: give values at compile time (--param NAME=VALUE or --params-file):\n");
            for (k, v) in &self.params {
                o.push_str(&format!("  {k}: {v}\n"));
            }
        }
        if !self.notes.is_empty() {
            o.push_str("\nNotes:\n");
            for n in &self.notes {
                o.push_str(&format!("  - {n}\n"));
            }
        }
        if !self.ignored.is_empty() {
            o.push_str("\nIgnored (no effect on the sandbox): ");
            o.push_str(&self.ignored.iter().cloned().collect::<Vec<_>>().join(", "));
            o.push('\n');
        }
        // Source text (names, keys) reaches a terminal: no control or format characters.
        o.lines().map(|l| crate::json::printable(l) + "\n").collect()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
