//! The driver: one line per stage. No I/O, no environment, no global state.

use crate::artifact::{write_files, Artifact};
use crate::capability::{self, Src};
use crate::diag::{Code, Diagnostic, Diagnostics, Severity};
use crate::json::Writer;
use crate::key::{self, CapRecord, ManifestRecord};
use crate::manifest::{self, params, CapEntry, Manifest};
use crate::policy::{self, Parsed, Policy};
use crate::target::{self, Target};
use crate::VERSION;
use std::collections::{BTreeMap, BTreeSet};

/// What to compile for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Targets; empty means every default target.
    pub targets: BTreeSet<Target>,
    /// Param values (`--param NAME=VALUE`).
    pub params: BTreeMap<String, String>,
    /// Any grant a target cannot enforce is an error.
    pub strict: bool,
    /// Lints are errors.
    pub deny_warnings: bool,
}

impl Options {
    /// The targets this run compiles.
    pub fn effective_targets(&self) -> BTreeSet<Target> {
        if self.targets.is_empty() {
            Target::DEFAULT.into_iter().collect()
        } else {
            self.targets.clone()
        }
    }
}

/// A successful compile.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The 64-hex content key.
    pub key: String,
    /// Every file, `index.json` last.
    pub artifacts: Vec<Artifact>,
    /// Lints (warnings) found.
    pub warnings: Diagnostics,
    /// The normalized policy.
    pub policy: Policy,
}

impl Compiled {
    /// The artifact at `path`, if any.
    pub fn artifact(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }
}

/// The front half: parse, substitute, parse grants, normalize. Shared by
/// [`compile`] and [`key`].
struct Front {
    policy: Policy,
    warnings: Diagnostics,
    /// JCS form of the normalized manifest.
    manifest_jcs: String,
}

fn front(source: &[u8], opts: &Options) -> Result<Front, Diagnostics> {
    let (m, mut diags) = manifest::parse_partial(source)?;
    let mut used = BTreeSet::new();

    let command = m.command.as_ref().and_then(|cmd| {
        // Substitute every element first so each bad one is reported.
        let parts: Vec<Option<String>> = cmd
            .iter()
            .map(|t| {
                params::substitute(
                    t,
                    params::Place::Anywhere,
                    &m.params,
                    &opts.params,
                    &mut used,
                    &mut diags,
                )
                .map(std::borrow::Cow::into_owned)
            })
            .collect();
        parts.into_iter().collect::<Option<Vec<String>>>()
    });
    // Substituted text is validated like literal text: the program a param
    // names is checked as the manifest parser checks a literal one.
    if let (Some(first), Some(lit)) = (
        command.as_ref().and_then(|c| c.first()),
        m.command.as_ref().and_then(|c| c.first()),
    ) {
        if first.is_empty() {
            diags.push(
                Diagnostic::error(Code::EmptyValue, "`command[0]` is empty after params")
                    .at(lit.span)
                    .hint("give the param a program path, such as /usr/bin/node"),
            );
        } else if first.starts_with('-') {
            diags.push(
                Diagnostic::error(
                    Code::BadCommand,
                    format!(
                        "the program in `command` starts with `-` (`{}` after params)",
                        crate::json::printable(first)
                    ),
                )
                .at(lit.span)
                .hint("the first element is the program to run, such as /usr/bin/node"),
            );
        }
    }

    let mut grants = Vec::new();
    let mut server_caps = BTreeSet::new();
    let mut tool_caps: BTreeMap<String, BTreeSet<CapRecord>> = BTreeMap::new();
    let mut parse_list =
        |list: &[CapEntry], tool: Option<&str>, diags: &mut Diagnostics, used: &mut BTreeSet<String>| {
            let mut records = BTreeSet::new();
            for entry in list {
                let t = &entry.cap;
                let Some(text) =
                    params::substitute(t, params::Place::CapabilityScope, &m.params, &opts.params, used, diags)
                else {
                    continue;
                };
                let by_params = *text != t.text;
                // Grammar 0.0 quoted scopes that held colons (`"unix:/x.sock"`,
                // `"::1"`); the quotes carry no meaning once the scope is the rest.
                let text = match m.grammar {
                    manifest::Grammar::Compat => std::borrow::Cow::Owned(capability::dequote_compat(&text)),
                    manifest::Grammar::V1 => text,
                };
                let substituted = *text != t.text;
                let span_of = |a: usize, b: usize| if substituted { t.span } else { t.sub_span(a, b) };
                match capability::parse(
                    &Src {
                        text: &text,
                        span_of: &span_of,
                    },
                    m.grammar,
                ) {
                    Ok(cap) => {
                        let canonical = cap.to_string();
                        records.insert(CapRecord {
                            cap: canonical.clone(),
                            why: entry.why.clone(),
                        });
                        grants.push(policy::ParsedGrant {
                            cap,
                            canonical,
                            why: entry.why.clone(),
                            tool: tool.map(str::to_string),
                            span: t.span,
                        });
                    }
                    Err(mut d) => {
                        if by_params {
                            d.message = format!("{} (in `{}` after params)", d.message, crate::json::printable(&text));
                        } else if substituted {
                            d.message =
                                format!("{} (in `{}` without quotes)", d.message, crate::json::printable(&text));
                        }
                        diags.push(d)
                    }
                }
            }
            records
        };
    server_caps.extend(parse_list(&m.capabilities, None, &mut diags, &mut used));
    for tool in &m.tools {
        let recs = parse_list(&tool.capabilities, Some(&tool.name.text), &mut diags, &mut used);
        tool_caps.insert(tool.name.text.clone(), recs);
    }
    params::check_values(&m, &opts.params, &used, &mut diags);
    for (name, decl) in &m.params {
        if !used.contains(name) {
            diags.push(
                Diagnostic::warning(Code::UnusedParam, format!("param `{name}` is declared but never used"))
                    .at(decl.span)
                    .hint("remove it, or use ${NAME} in `command` or a capability scope"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }

    let manifest_json = key::normalized_manifest(&ManifestRecord {
        grammar: m.grammar,
        name: &m.name.text,
        version: &m.version.text,
        profile: m.profile,
        image: m.image.as_ref().map(|t| t.text.as_str()),
        command: command.as_deref(),
        capabilities: server_caps,
        tools: tool_caps,
    });
    let parsed = parsed(&m, command, opts, grants);
    let (policy, lints) = match policy::normalize(parsed) {
        Ok(x) => x,
        Err(mut errs) => {
            errs.0.extend(diags.0);
            return Err(errs.sorted());
        }
    };
    diags.0.extend(lints.0);
    if opts.deny_warnings && !diags.is_empty() {
        for d in &mut diags.0 {
            d.severity = Severity::Error;
            d.hints
                .push("this is a warning, made an error by --deny-warnings".into());
        }
        return Err(diags.sorted());
    }
    Ok(Front {
        policy,
        warnings: diags.sorted(),
        manifest_jcs: manifest_json.to_compact(),
    })
}

fn parsed(m: &Manifest, command: Option<Vec<String>>, opts: &Options, grants: Vec<policy::ParsedGrant>) -> Parsed {
    Parsed {
        name: m.name.text.clone(),
        version: m.version.text.clone(),
        grammar: m.grammar,
        profile: m.profile,
        image: m.image.as_ref().map(|t| t.text.clone()),
        command,
        params: opts.params.clone(),
        grants,
    }
}

fn key_of(f: &Front, opts: &Options) -> String {
    let targets = opts.effective_targets();
    key::compute(
        f.policy.grammar,
        &targets,
        opts.strict,
        opts.deny_warnings,
        &opts.params,
        &f.manifest_jcs,
    )
}

/// The content key of a manifest under `opts`. It is the key of a
/// successful [`compile`], so it fails exactly when compile fails (with
/// `--strict`, an unenforced grant is an error here too).
pub fn key(source: &[u8], opts: &Options) -> Result<String, Diagnostics> {
    compile(source, opts).map(|c| c.key)
}

/// Compile a manifest into artifacts (bytes). Returns every diagnostic of
/// the manifest on failure.
pub fn compile(source: &[u8], opts: &Options) -> Result<Compiled, Diagnostics> {
    let f = front(source, opts)?;
    let key = key_of(&f, opts);
    let targets = opts.effective_targets();

    let mut artifacts = vec![Artifact::text(
        "policy.json",
        "application/json",
        policy::render(&f.policy),
    )];
    let mut errors = Diagnostics::default();
    for t in &targets {
        match target::lower(*t, &f.policy) {
            Ok(lowered) => {
                if opts.strict {
                    for gap in &lowered.envelope.unenforced {
                        let grant = f.policy.grants.get(&gap.grant);
                        let hint = match grant.map(|g| &g.cap) {
                            Some(capability::Capability::Fs(_)) => {
                                "add the `exec` action (fs:read,exec:...): every target lets bound files run, so --strict wants it declared"
                            }
                            _ => "drop the grant, compile only targets that enforce it (--target), or compile without --strict if the gap is acceptable",
                        };
                        errors.push(
                            Diagnostic::error(
                                Code::Unenforced,
                                format!("{}: `{}` is not enforced: {}", t.as_str(), gap.grant, gap.reason),
                            )
                            .at_opt(grant.map(|g| g.span))
                            .hint(hint),
                        );
                    }
                }
                artifacts.extend(lowered.artifacts);
            }
            Err(d) => errors.push(d),
        }
    }
    if errors.has_errors() {
        errors.0.extend(f.warnings.0);
        return Err(errors.sorted());
    }
    artifacts.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let index = index_json(&f, &key, opts, &artifacts);
    artifacts.push(Artifact::text("index.json", "application/json", index));
    Ok(Compiled {
        key,
        artifacts,
        warnings: f.warnings,
        policy: f.policy,
    })
}

fn index_json(f: &Front, key: &str, opts: &Options, artifacts: &[Artifact]) -> String {
    let mut w = Writer::new();
    w.begin_object();
    w.key("capgate").str(VERSION);
    w.key("files");
    write_files(&mut w, artifacts);
    w.key("format").str("capgate.index/1");
    w.key("grammar").str(f.policy.grammar.as_str());
    w.key("key").str(key);
    w.key("manifest").begin_object();
    w.key("name").str(&f.policy.name);
    w.key("sha256")
        .str(&crate::artifact::sha256_hex(f.manifest_jcs.as_bytes()));
    w.key("version").str(&f.policy.version);
    w.end();
    w.key("options").begin_object();
    w.key("deny_warnings").bool(opts.deny_warnings);
    w.key("strict").bool(opts.strict);
    w.end();
    w.key("params")
        .str_map(opts.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    w.key("targets")
        .strs(opts.effective_targets().iter().map(|t| t.as_str()));
    w.end();
    w.finish()
}

/// Every file path a compile for `targets` writes (for Bazel and `verify`).
pub fn output_files(targets: &BTreeSet<Target>) -> Vec<&'static str> {
    let mut files = vec!["index.json", "policy.json"];
    for t in targets {
        files.extend(t.files());
    }
    files.sort();
    files
}

/// Severity helper for callers.
pub fn is_fatal(d: &Diagnostics) -> bool {
    d.iter().any(|x| x.severity == Severity::Error)
}
