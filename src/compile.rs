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

/// The front half after normalizing (`early`, then `late`).
struct Front {
    policy: Policy,
    warnings: Diagnostics,
    /// JCS form of the normalized manifest.
    manifest_jcs: String,
}

/// Parse, substitute params, parse grants, build the normalized manifest
/// (the key's input).
fn early(source: &[u8], opts: &Options) -> Result<Early, Diagnostics> {
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

    let declared = m.capabilities.len() + m.tools.iter().map(|t| t.capabilities.len()).sum::<usize>();
    let mut grants = Vec::with_capacity(declared);
    let mut parse_list =
        |list: &[CapEntry], tool: Option<&str>, diags: &mut Diagnostics, used: &mut BTreeSet<String>| {
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
                        // Sized up front: `to_string` would grow it a few times.
                        let mut canonical = String::with_capacity(text.len() + 16);
                        let _ = std::fmt::Write::write_fmt(&mut canonical, format_args!("{cap}"));
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
        };
    parse_list(&m.capabilities, None, &mut diags, &mut used);
    for tool in &m.tools {
        parse_list(&tool.capabilities, Some(&tool.name.text), &mut diags, &mut used);
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

    // The normalized manifest's records borrow from the grants (no copies).
    // Every tool is listed, also one that declares no capability.
    let mut server_caps = BTreeSet::new();
    let mut tool_caps: BTreeMap<&str, BTreeSet<CapRecord>> = m
        .tools
        .iter()
        .map(|t| (t.name.text.as_str(), BTreeSet::new()))
        .collect();
    for g in &grants {
        let record = CapRecord {
            cap: &g.canonical,
            why: g.why.as_deref(),
        };
        match &g.tool {
            None => server_caps.insert(record),
            Some(tool) => tool_caps.entry(tool.as_str()).or_default().insert(record),
        };
    }
    let manifest_jcs = key::normalized_manifest_jcs(&ManifestRecord {
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
    Ok(Early {
        parsed,
        diags,
        manifest_jcs,
    })
}

/// The front half up to the key: parsed, grants checked, not normalized.
struct Early {
    parsed: Parsed,
    diags: Diagnostics,
    manifest_jcs: String,
}

/// Normalize and lint.
fn late(e: Early, opts: &Options) -> Result<Front, Diagnostics> {
    let Early {
        parsed,
        mut diags,
        manifest_jcs,
    } = e;
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
        manifest_jcs,
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

fn key_of(grammar: manifest::Grammar, manifest_jcs: &str, opts: &Options) -> String {
    let targets = opts.effective_targets();
    key::compute(
        grammar,
        &targets,
        opts.strict,
        opts.deny_warnings,
        &opts.params,
        manifest_jcs,
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
    prepare(source, opts)?.finish(opts)
}

/// A manifest parsed and checked, with its key, before it is normalized,
/// linted or lowered: what a content-addressed store needs to decide that
/// nothing is to be done. `compile` = `prepare` + [`Prepared::finish`].
///
/// The key is the key `finish` would give, but `finish` can still reject
/// the manifest (a policy conflict, a lint under `--deny-warnings`, a
/// target's own limit, an unenforced grant under `--strict`), so a key from
/// `prepare` alone proves nothing; a store entry under that key does,
/// because only a successful compile of the same inputs (the key covers
/// them all, and the capgate version) writes one.
pub struct Prepared {
    early: Early,
    key: String,
}

impl Prepared {
    /// The 64-hex content key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Normalize, lint and lower every target of `opts` (the options given
    /// to [`prepare`]).
    pub fn finish(self, opts: &Options) -> Result<Compiled, Diagnostics> {
        lower_all(late(self.early, opts)?, self.key, opts)
    }
}

/// Parse a manifest, check its grants and compute its key, without
/// normalizing or lowering (see [`Prepared`]).
pub fn prepare(source: &[u8], opts: &Options) -> Result<Prepared, Diagnostics> {
    let early = early(source, opts)?;
    let key = key_of(early.parsed.grammar, &early.manifest_jcs, opts);
    Ok(Prepared { early, key })
}

fn lower_all(f: Front, key: String, opts: &Options) -> Result<Compiled, Diagnostics> {
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

#[cfg(test)]
mod prepare_tests {
    use super::*;

    const M: &[u8] = br#"{"grammar": "1", "name": "p", "version": "1.0.0",
        "command": ["/usr/bin/node", "/opt/mcp/p/index.js"],
        "capabilities": ["fs:read:/opt/mcp/p/**", "net:connect:*:443"], "tools": []}"#;

    #[test]
    fn prepare_gives_the_key_of_compile_and_finish_gives_compile() {
        let opts = Options::default();
        let p = prepare(M, &opts).unwrap();
        let c = compile(M, &opts).unwrap();
        assert_eq!(p.key(), c.key);
        let f = p.finish(&opts).unwrap();
        assert_eq!(f.artifacts, c.artifacts);
        assert_eq!(f.warnings, c.warnings);
        assert!(!f.warnings.is_empty(), "the `*` host lint comes from finish");
    }

    #[test]
    fn a_key_from_prepare_alone_does_not_mean_compile_succeeds() {
        for opts in [
            Options {
                strict: true,
                ..Default::default()
            },
            Options {
                deny_warnings: true,
                ..Default::default()
            },
        ] {
            let p = prepare(M, &opts).expect("parses and checks");
            assert_eq!(p.key().len(), 64);
            assert!(p.finish(&opts).is_err(), "{opts:?}");
            assert!(compile(M, &opts).is_err());
        }
    }
}
