//! Stage 3: parsed grants → one normalized [`Policy`].
//!
//! Deterministic (BTreeMap/BTreeSet, byte order), deduplicated, merged from
//! server- and tool-level grants with a per-tool view kept for reviewers.
//! Filesystem grants become binds in parent-then-child order; a bind that
//! adds nothing over its nearest ancestor is recorded as covered, never
//! merged upward (a child's write never widens its parent). Every widening a
//! bind mount forces is recorded. Lints ([`lint`]) run here.

mod lint;

use crate::capability::{
    path, Assertion, Capability, ClockSource, EnvAction, EnvGrant, ExecGrant, FsAction, Glob, IpcEndpoint, IpcGrant,
    Limit, NetGrant,
};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::json::Writer;
use crate::manifest::{Grammar, Profile};
use std::collections::{BTreeMap, BTreeSet};

/// One grant as declared, after parsing, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The parsed capability.
    pub cap: Capability,
    /// Its canonical string.
    pub canonical: String,
    /// The authors' reasons (from every place it was declared).
    pub why: BTreeSet<String>,
    /// Tools that declare it (empty when only server-level).
    pub tools: BTreeSet<String>,
    /// Declared at server level.
    pub server: bool,
    /// First place it was declared.
    pub span: Span,
}

/// Read-only or read-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Read-only bind.
    Ro,
    /// Read-write bind.
    Rw,
}

impl Mode {
    /// `ro` / `rw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ro => "ro",
            Mode::Rw => "rw",
        }
    }
}

/// A host path bound into the sandbox at the same path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Absolute path (source and destination).
    pub path: String,
    /// Mode.
    pub mode: Mode,
    /// All contributing grants are `?optional=true`.
    pub optional: bool,
    /// Canonical strings of the grants that produced it.
    pub grants: Vec<String>,
    /// When set, the bind adds nothing over this ancestor and is not emitted.
    pub covered_by: Option<String>,
}

/// A grant with a reason: what was widened, or what is not (or only by the
/// launcher) enforced.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantNote {
    /// Canonical grant.
    pub grant: String,
    /// What happened to it, and why.
    pub reason: String,
}

/// A grant a target had to widen (reason: what was granted instead).
pub type Widening = GrantNote;

/// How an env variable reaches the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvEntry {
    /// read, inject or set.
    pub action: EnvAction,
    /// Value for set.
    pub value: Option<String>,
}

/// A mount capgate adds itself (see [`Policy::implicit_mounts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImplicitMount<'a> {
    /// Host path, bound at the same path in the sandbox.
    pub path: &'a str,
    /// Read-only unless a grant makes the path writable.
    pub mode: Mode,
    /// May be absent on the host.
    pub optional: bool,
}

/// The normalized policy: what every target lowers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Grammar of the manifest.
    pub grammar: Grammar,
    /// Base view.
    pub profile: Profile,
    /// Container image.
    pub image: Option<String>,
    /// Command after substitution.
    pub command: Option<Vec<String>>,
    /// Param values.
    pub params: BTreeMap<String, String>,
    /// Every distinct grant, by canonical string.
    pub grants: BTreeMap<String, Grant>,
    /// Binds, parent-then-child (covered ones included, flagged).
    pub binds: Vec<Bind>,
    /// Network grants by canonical string.
    pub net: BTreeMap<String, NetGrant>,
    /// Environment by variable name.
    pub env: BTreeMap<String, EnvEntry>,
    /// Programs.
    pub exec: BTreeSet<ExecGrant>,
    /// IPC endpoints.
    pub ipc: BTreeSet<IpcGrant>,
    /// Clock sources.
    pub clock: BTreeSet<ClockSource>,
    /// Limits by name.
    pub limits: BTreeMap<&'static str, Limit>,
    /// Assertions.
    pub assertions: BTreeSet<Assertion>,
    /// Widenings forced by bind mounts (target-independent).
    pub widened: Vec<Widening>,
}

impl Policy {
    /// True if the server may make outbound connections.
    pub fn has_egress(&self) -> bool {
        self.net.values().any(|g| {
            g.actions.contains(&crate::capability::NetAction::Connect) && g.proto == crate::capability::Proto::Tcp
        })
    }

    /// Some exec grant asks for nested sandboxing.
    pub fn nested_sandbox(&self) -> bool {
        self.exec.iter().any(|e| e.nested_sandbox)
    }

    /// A grant binds the host's own /tmp, which then replaces the sandbox's
    /// private tmpfs (so a `limit:set:tmpfs` size has nothing to size).
    pub fn binds_host_tmp(&self) -> bool {
        self.effective_binds().any(|b| b.path == "/tmp")
    }

    /// The binds a target emits (not covered).
    pub fn effective_binds(&self) -> impl Iterator<Item = &Bind> {
        self.binds.iter().filter(|b| b.covered_by.is_none())
    }

    /// The mode the fs grants give `path`: that of the nearest emitted bind
    /// at or above it (`None` when no grant covers it).
    pub fn mode_at(&self, path: &str) -> Option<Mode> {
        self.effective_binds()
            .filter(|b| path::is_under(path, &b.path))
            .max_by_key(|b| path::depth(&b.path))
            .map(|b| b.mode)
    }

    /// The mounts capgate adds itself for clock and ipc grants (tzdata, display
    /// and bus sockets), each read-only unless a grant already makes the path
    /// writable. `host_usr`: the sandbox's /usr is the host's, so zoneinfo is
    /// already there.
    pub fn implicit_mounts(&self, host_usr: bool) -> Vec<ImplicitMount<'_>> {
        let mut paths: Vec<(&str, bool)> = Vec::new();
        if self.clock.contains(&ClockSource::Tzdata) {
            paths.push(("/etc/localtime", true));
            if !host_usr {
                paths.push(("/usr/share/zoneinfo", true));
            }
        }
        for i in &self.ipc {
            match &i.endpoint {
                IpcEndpoint::X11 => paths.push(("/tmp/.X11-unix", i.optional)),
                IpcEndpoint::DbusSystem => paths.push(("/run/dbus/system_bus_socket", i.optional)),
                IpcEndpoint::Unix(s) => paths.push((s, i.optional)),
                IpcEndpoint::Wayland | IpcEndpoint::DbusSession => {}
            }
        }
        paths
            .into_iter()
            .map(|(path, optional)| ImplicitMount {
                path,
                mode: self.implicit_mode(path),
                optional,
            })
            .collect()
    }

    /// The flag-level mode for a mount capgate adds itself (ipc sockets,
    /// tzdata): read-only, unless a grant already makes the path writable,
    /// so the added mount never hides a declared write.
    pub fn implicit_mode(&self, path: &str) -> Mode {
        // The profile's read-only baseline lies on top of a writable grant
        // that is its ancestor (`fs:write:/**` and a socket under /usr).
        let baseline = baseline_paths(self.profile)
            .iter()
            .filter(|b| path::is_under(path, b))
            .map(|b| path::depth(b))
            .max();
        let bind = self
            .effective_binds()
            .filter(|b| path::is_under(path, &b.path))
            .max_by_key(|b| path::depth(&b.path));
        match (bind, baseline) {
            (Some(b), Some(d)) if d > path::depth(&b.path) => Mode::Ro,
            (Some(b), _) => b.mode,
            (None, _) => Mode::Ro,
        }
    }

    /// The `why` texts of a grant, joined.
    pub fn why(&self, canonical: &str) -> Option<String> {
        let g = self.grants.get(canonical)?;
        (!g.why.is_empty()).then(|| g.why.iter().cloned().collect::<Vec<_>>().join("; "))
    }
}

/// The profile's read-only baseline paths.
pub fn baseline_paths(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Debian => &["/usr"],
        Profile::Nix => &["/nix/store"],
        Profile::None => &[],
    }
}

/// One grant as parsed, before merging.
pub struct ParsedGrant {
    /// The capability.
    pub cap: Capability,
    /// Its canonical string.
    pub canonical: String,
    /// The author's reason.
    pub why: Option<String>,
    /// The tool that declares it (`None` at server level).
    pub tool: Option<String>,
    /// Where it is declared.
    pub span: Span,
}

/// Input to normalization: the manifest's header and each parsed grant with
/// its origin (tool name, or `None` for server level).
pub struct Parsed {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Grammar.
    pub grammar: Grammar,
    /// Profile.
    pub profile: Profile,
    /// Image.
    pub image: Option<String>,
    /// Command.
    pub command: Option<Vec<String>>,
    /// Params.
    pub params: BTreeMap<String, String>,
    /// Every grant as declared.
    pub grants: Vec<ParsedGrant>,
}

/// Normalize; returns the policy and its warnings, or errors.
pub fn normalize(p: Parsed) -> Result<(Policy, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
    for ParsedGrant {
        cap,
        canonical,
        why,
        tool,
        span,
    } in p.grants
    {
        let g = grants.entry(canonical.clone()).or_insert_with(|| Grant {
            cap,
            canonical,
            why: BTreeSet::new(),
            tools: BTreeSet::new(),
            server: false,
            span,
        });
        if let Some(w) = why {
            g.why.insert(w);
        }
        match tool {
            Some(t) => {
                g.tools.insert(t);
            }
            None => g.server = true,
        }
    }

    let mut net = BTreeMap::new();
    let mut env: BTreeMap<String, (EnvEntry, Span)> = BTreeMap::new();
    let mut exec = BTreeSet::new();
    let mut ipc = BTreeSet::new();
    let mut clock = BTreeSet::new();
    let mut limits: BTreeMap<&'static str, (Limit, Span)> = BTreeMap::new();
    let mut assertions = BTreeSet::new();
    let mut fs_by_path: BTreeMap<&str, Vec<&Grant>> = BTreeMap::new();
    let mut widened = Vec::new();

    for g in grants.values() {
        match &g.cap {
            Capability::Fs(f) => {
                fs_by_path.entry(f.path.as_str()).or_default().push(g);
                if f.glob == Glob::Children {
                    widened.push(Widening {
                        grant: g.canonical.clone(),
                        reason: format!("`/*` (direct children) is bound as the whole directory {}", f.path),
                    });
                }
                let acts = &f.actions;
                if acts.iter().any(|a| a.needs_write()) && !acts.contains(&FsAction::Read) {
                    widened.push(Widening {
                        grant: g.canonical.clone(),
                        reason: "a writable bind is also readable".into(),
                    });
                }
                if acts.contains(&FsAction::Exec) && !acts.contains(&FsAction::Read) {
                    widened.push(Widening {
                        grant: g.canonical.clone(),
                        reason: "an executable bind is also readable".into(),
                    });
                }
                let rw: Vec<&str> = acts.iter().filter(|a| a.needs_write()).map(|a| a.as_str()).collect();
                if !rw.is_empty() && rw != ["write", "create", "delete"] {
                    widened.push(Widening {
                        grant: g.canonical.clone(),
                        reason: format!(
                            "{} is lowered to a read-write bind, which also allows {}",
                            rw.join(","),
                            ["write", "create", "delete"]
                                .iter()
                                .filter(|a| !rw.contains(a))
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
            Capability::Net(n) => {
                net.insert(g.canonical.clone(), n.clone());
            }
            Capability::Env(e) => merge_env(&mut env, e, g, &mut diags),
            Capability::Exec(e) => {
                exec.insert(e.clone());
            }
            Capability::Ipc(i) => {
                ipc.insert(i.clone());
            }
            Capability::Clock(c) => {
                clock.insert(*c);
            }
            Capability::Limit(l) => match limits.get(l.name()) {
                Some((prev, prev_span)) if prev != l => {
                    let (l1, c1) = (prev.value_str(), *prev_span);
                    diags.push(
                        Diagnostic::error(
                            Code::ConflictingLimit,
                            format!("limit `{}` is set to both {} and {}", l.name(), l1, l.value_str()),
                        )
                        .at(g.span)
                        .hint(format!("keep one value; the other is at byte {}", c1.start)),
                    );
                }
                _ => {
                    limits.insert(l.name(), (*l, g.span));
                }
            },
            Capability::Assert(a) => {
                assertions.insert(a.clone());
            }
        }
    }

    // X11 clients find the display through DISPLAY: pass it like env:read.
    if ipc
        .iter()
        .any(|i: &IpcGrant| i.endpoint == crate::capability::IpcEndpoint::X11)
    {
        let span = grants
            .values()
            .find(|g| matches!(&g.cap, Capability::Ipc(_)))
            .map(|g| g.span)
            .unwrap_or_default();
        env.entry("DISPLAY".to_string()).or_insert((
            EnvEntry {
                action: EnvAction::Read,
                value: None,
            },
            span,
        ));
    }
    // With egress, capgate points the proxy variables at its allowlist proxy;
    // a grant of the same variable would be silently overridden (set) or
    // would race it (read/inject, appended by the launcher).
    let egress = net.values().any(|n: &NetGrant| {
        n.actions.contains(&crate::capability::NetAction::Connect) && n.proto == crate::capability::Proto::Tcp
    });
    if egress {
        for (name, (_, span)) in &env {
            if crate::target::PROXY_VARS.contains(&name.as_str()) {
                diags.push(
                    Diagnostic::error(
                        Code::ConflictingEnv,
                        format!("`{name}` is set by capgate to the egress proxy, because net:connect is granted"),
                    )
                    .at(*span)
                    .hint("drop this env grant: with egress granted, capgate sets HTTP(S)_PROXY and http(s)_proxy to its allowlist proxy"),
                );
            }
        }
    }
    let binds = build_binds(p.profile, fs_by_path);
    widened.sort();
    widened.dedup();

    let policy = Policy {
        name: p.name,
        version: p.version,
        grammar: p.grammar,
        profile: p.profile,
        image: p.image,
        command: p.command,
        params: p.params,
        grants,
        binds,
        net,
        env: env.into_iter().map(|(k, (e, _))| (k, e)).collect(),
        exec,
        ipc,
        clock,
        limits: limits.into_iter().map(|(k, (l, _))| (k, l)).collect(),
        assertions,
        widened,
    };
    if diags.has_errors() {
        return Err(diags);
    }
    lint::run(&policy, &mut diags);
    Ok((policy, diags))
}

fn merge_env(env: &mut BTreeMap<String, (EnvEntry, Span)>, e: &EnvGrant, g: &Grant, diags: &mut Diagnostics) {
    let new = EnvEntry {
        action: e.action,
        value: e.value.clone(),
    };
    match env.get_mut(&e.name) {
        None => {
            env.insert(e.name.clone(), (new, g.span));
        }
        Some((old, _)) => match (old.action, e.action) {
            (EnvAction::Set, EnvAction::Set) if old.value != e.value => diags.push(
                Diagnostic::error(
                    Code::ConflictingEnv,
                    format!("`{}` is set to two different values", e.name),
                )
                .at(g.span)
                .hint("keep one env:set for each variable"),
            ),
            (EnvAction::Set, EnvAction::Set) => {}
            (EnvAction::Set, _) | (_, EnvAction::Set) => diags.push(
                Diagnostic::error(
                    Code::ConflictingEnv,
                    format!("`{}` is both set to a value and passed from the launcher", e.name),
                )
                .at(g.span)
                .hint("use either env:set or env:read/env:inject for a variable"),
            ),
            // inject dominates read: the value is handled as a secret.
            _ => {
                if e.action == EnvAction::Inject {
                    old.action = EnvAction::Inject;
                }
            }
        },
    }
}

fn build_binds(profile: Profile, by_path: BTreeMap<&str, Vec<&Grant>>) -> Vec<Bind> {
    let mut paths: Vec<(&str, Vec<&Grant>)> = by_path.into_iter().collect();
    paths.sort_by(|a, b| path::cmp_tree(a.0, b.0));
    // Emitted (not covered) binds by path; parents are always seen first.
    let mut emitted: BTreeMap<String, (Mode, bool)> = BTreeMap::new();
    let mut out: Vec<Bind> = Vec::new();
    for (path, grants) in paths {
        let mut mode = Mode::Ro;
        let mut optional = true;
        for g in &grants {
            if let Capability::Fs(f) = &g.cap {
                if f.writable() {
                    mode = Mode::Rw;
                }
                optional &= f.optional;
            }
        }
        // Nearest enclosing mount: an emitted bind or a profile baseline path.
        let ancestor = path::ancestors(path).find_map(|a| {
            if let Some((m, o)) = emitted.get(a) {
                return Some((a.to_string(), *m, *o));
            }
            baseline_paths(profile)
                .contains(&a)
                .then(|| (format!("profile:{a}"), Mode::Ro, false))
        });
        let covered_by = match ancestor {
            Some((a, m, a_opt)) if m == mode && (!a_opt || optional) => Some(a),
            _ => None,
        };
        if covered_by.is_none() {
            emitted.insert(path.to_string(), (mode, optional));
        }
        out.push(Bind {
            path: path.to_string(),
            mode,
            optional,
            grants: grants.iter().map(|g| g.canonical.clone()).collect(),
            covered_by,
        });
    }
    out
}

/// `policy.json`: what a reviewer diffs (keys in JCS order).
pub fn render(p: &Policy) -> String {
    let mut w = Writer::new();
    w.begin_object();
    w.key("assertions");
    write_assertions(&mut w, &p.assertions);
    w.key("baseline");
    write_baseline(&mut w, p.profile);
    w.key("clock").strs(p.clock.iter().map(|c| c.as_str()));
    w.key("command");
    match &p.command {
        Some(c) => w.strs(c),
        None => w.null(),
    };
    w.key("env").begin_object();
    for (name, e) in &p.env {
        w.key(name).begin_object();
        w.key("action").str(e.action.as_str());
        if let Some(v) = &e.value {
            w.key("value").str(v);
        }
        w.end();
    }
    w.end();
    w.key("exec").strs(p.exec.iter().map(|e| e.to_string()));
    w.key("format").str("capgate.policy/1");
    w.key("fs").begin_array();
    for b in &p.binds {
        w.begin_object();
        w.key("covered_by").opt_str(b.covered_by.as_deref());
        w.key("grants").strs(&b.grants);
        w.key("mode").str(b.mode.as_str());
        w.key("optional").bool(b.optional);
        w.key("path").str(&b.path);
        w.end();
    }
    w.end();
    w.key("grammar").str(p.grammar.as_str());
    w.key("grants").begin_array();
    for g in p.grants.values() {
        w.begin_object();
        w.key("cap").str(&g.canonical);
        w.key("server").bool(g.server);
        w.key("tools").strs(&g.tools);
        w.key("why").strs(&g.why);
        w.end();
    }
    w.end();
    w.key("image").opt_str(p.image.as_deref());
    w.key("ipc").strs(p.ipc.iter().map(|e| e.to_string()));
    w.key("limits").begin_object();
    for (k, l) in &p.limits {
        w.key(k).str(&l.value_str());
    }
    w.end();
    w.key("name").str(&p.name);
    w.key("net").strs(p.net.keys());
    w.key("params")
        .str_map(p.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    w.key("profile").str(p.profile.as_str());
    let mut tools: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for g in p.grants.values() {
        for t in &g.tools {
            tools.entry(t.as_str()).or_default().push(g.canonical.as_str());
        }
    }
    w.key("tools").begin_object();
    for (t, caps) in tools {
        w.key(t).strs(caps);
    }
    w.end();
    w.key("version").str(&p.version);
    w.key("widened");
    write_grant_notes(&mut w, &p.widened);
    w.end();
    w.finish()
}

/// The profile's baseline as data.
pub fn write_baseline(w: &mut Writer, profile: Profile) {
    let links: &[&str] = match profile {
        Profile::Debian => &[
            "/bin -> usr/bin",
            "/lib -> usr/lib",
            "/lib64 -> usr/lib64",
            "/sbin -> usr/sbin",
        ],
        _ => &[],
    };
    w.begin_object();
    w.key("dev").str("/dev (minimal)");
    w.key("proc").str("/proc");
    w.key("ro_binds").strs(baseline_paths(profile));
    w.key("symlinks").strs(links);
    w.key("tmpfs").strs(["/tmp"]);
    w.end();
}

/// Assertions as `[{id, text}]`.
pub fn write_assertions(w: &mut Writer, a: &BTreeSet<Assertion>) {
    w.begin_array();
    for a in a {
        w.begin_object();
        w.key("id").str(&a.id);
        w.key("text").opt_str(a.text.as_deref());
        w.end();
    }
    w.end();
}

/// Grant notes (widenings, gaps) as `[{grant, reason}]`.
pub fn write_grant_notes(w: &mut Writer, list: &[GrantNote]) {
    w.begin_array();
    for x in list {
        w.begin_object();
        w.key("grant").str(&x.grant);
        w.key("reason").str(&x.reason);
        w.end();
    }
    w.end();
}
