//! `capgate review`: the governance report (library: `capgate::review`).

use crate::args::{CommonArgs, FailOn, Format, ReviewArgs, ReviewFormat};
use crate::commands::{options, read_manifest, Input};
use crate::report;
use capgate::review::{self, policy_file, Level};
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(a: ReviewArgs) -> u8 {
    let fmt = match a.format {
        ReviewFormat::Human => Format::Human,
        ReviewFormat::Json | ReviewFormat::Sarif => Format::Json,
    };
    let common = CommonArgs {
        targets: Vec::new(),
        params: a.params.clone(),
        params_file: a.params_file.clone(),
        strict: false,
        deny_warnings: false,
        format: fmt,
    };
    let opts = match options(&common, BTreeMap::new()) {
        Ok(o) => o,
        Err(e) => return report::failure(&e, fmt),
    };
    let file = a.manifest.display().to_string();
    let source = match read_manifest(&a.manifest) {
        Ok(Input::Bytes(s)) => s,
        Ok(Input::TooLarge(ds)) => {
            report::diagnostics(&ds, b"", &file, fmt);
            return 1;
        }
        Err(e) => return report::failure(&e, fmt),
    };
    let (policy, policy_src, policy_name) = match &a.policy {
        None => (policy_file::ReviewPolicy::default(), Vec::new(), String::new()),
        Some(p) => {
            let name = p.display().to_string();
            let limit = capgate::manifest::MAX_MANIFEST_BYTES as u64;
            if std::fs::metadata(p).is_ok_and(|m| m.len() > limit) {
                let d = capgate::Diagnostic::error(
                    capgate::Code::InputLimit,
                    format!("the review policy is larger than {} MiB", limit >> 20),
                )
                .hint("a review policy lists overrides; split or trim it");
                report::diagnostics(&capgate::Diagnostics(vec![d]), b"", &name, fmt);
                return 1;
            }
            let bytes = match std::fs::read(p) {
                Ok(b) => b,
                Err(e) => return report::failure(&format!("cannot read review policy {name}: {e}"), fmt),
            };
            match policy_file::parse(&bytes) {
                Ok(pol) => (pol, bytes, name),
                Err(ds) => {
                    report::diagnostics(&ds.sorted(), &bytes, &name, fmt);
                    return 1;
                }
            }
        }
    };
    let r = match review::review(&source, &opts, &policy) {
        Ok(r) => r,
        Err(ds) => {
            report::diagnostics(&ds, &source, &file, fmt);
            return 1;
        }
    };
    report::diagnostics(&r.policy_warnings, &policy_src, &policy_name, fmt);
    let fail_on = a.fail_on.map(|f| match f {
        FailOn::Low => Level::Low,
        FailOn::Medium => Level::Medium,
        FailOn::High => Level::High,
        FailOn::Critical => Level::Critical,
    });
    let text = String::from_utf8_lossy(&source);
    let out = match a.format {
        ReviewFormat::Human => review::render_human(&r, &text, &file, fail_on),
        ReviewFormat::Json => review::render_json(&r, &text, &file, fail_on),
        ReviewFormat::Sarif => review::sarif::render(&r, &text, &file),
    };
    if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return report::failure(&format!("cannot write the report: {e}"), fmt);
        }
    }
    match fail_on {
        Some(t) if r.fails(t) => 1,
        _ => 0,
    }
}
