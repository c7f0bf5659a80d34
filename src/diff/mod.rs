//! The permission delta between two policies (`capgate diff`).
//!
//! [`diff`] compares two normalized [`Policy`] values on meaning, not text:
//! key order, whitespace, capability order and duplicate merging are no
//! change at all, and a grant replaced by a covering one is *widened*, not
//! granted-and-revoked. Grants are compared with the [`covers`] relation per
//! kind; removed and added grants that concern the same thing ([`related`])
//! are paired into one entry.
//!
//! The delta has an effective view (the merged policy the sandbox gets),
//! a declared view per scope (server level, and each tool: which grants it
//! gained or lost), limits, new env secrets, the header fields, and per
//! target the changes of the envelopes' `unenforced`, `widened` and
//! `launcher` lists.
//!
//! ```
//! # fn policy(caps: &str) -> capgate::policy::Policy {
//! #     let m = format!(r#"{{"grammar":"1","name":"d","version":"1","command":["/usr/bin/node"],"capabilities":[{caps}]}}"#);
//! #     capgate::compile(m.as_bytes(), &Default::default()).unwrap().policy
//! # }
//! let old = policy(r#""fs:read:/data/**""#);
//! let new = policy(r#""fs:read:/srv/**", "fs:read:/data/**""#);
//! let delta = capgate::diff::diff(&old, &new);
//! assert!(delta.widens());
//! assert_eq!(delta.effective[0].kind, capgate::diff::ChangeKind::Granted);
//! ```

mod covers;
mod load;
mod render;

pub use covers::{covered_by, covers, related};
pub use load::{policy_from_json, OutDir};
pub use render::{render_human, render_json, render_markdown};

use crate::capability::Capability;
use crate::policy::{GrantNote, Policy};
use crate::target::{self, Envelope, Target};
use std::collections::{BTreeMap, BTreeSet};

/// What happened to a group of related grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// New grants, nothing related before.
    Granted,
    /// Grants gone, nothing related after.
    Revoked,
    /// Related grants that now allow more (and nothing less).
    Widened,
    /// Related grants that now allow less (and nothing more).
    Narrowed,
    /// Related grants that allow some things more and some less, or the
    /// same with another meaning (`env:read` ↔ `env:inject`: the value is,
    /// or no longer is, declared a secret; neither widens nor narrows).
    Changed,
}

impl ChangeKind {
    /// `granted`, `revoked`, `widened`, `narrowed`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Granted => "granted",
            ChangeKind::Revoked => "revoked",
            ChangeKind::Widened => "widened",
            ChangeKind::Narrowed => "narrowed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One entry of the delta: removed and added grants of one kind that
/// concern the same thing, with what the change does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The classification.
    pub kind: ChangeKind,
    /// Capability kind (`fs`, `net`, …).
    pub cap_kind: &'static str,
    /// Canonical grants that are gone (sorted).
    pub old: Vec<String>,
    /// Canonical grants that are new (sorted).
    pub new: Vec<String>,
    /// Something is allowed now that was not before.
    pub widens: bool,
    /// Something allowed before is not any more.
    pub narrows: bool,
}

/// A limit raised, lowered, added or removed (effective view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitChange {
    /// `memory`, `pids`, …
    pub name: &'static str,
    /// Old value (canonical), `None` when there was no limit.
    pub old: Option<String>,
    /// New value, `None` when the limit is gone.
    pub new: Option<String>,
    /// The sandbox may use more (raised, or removed).
    pub widens: bool,
}

impl LimitChange {
    /// `raised`, `lowered`, `added`, `removed`.
    pub fn verb(&self) -> &'static str {
        match (&self.old, &self.new, self.widens) {
            (None, _, _) => "added",
            (_, None, _) => "removed",
            (_, _, true) => "raised",
            _ => "lowered",
        }
    }
}

/// A scope of declared grants: server level or one tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDelta {
    /// The scope exists only in the new policy.
    pub added: bool,
    /// The scope exists only in the old policy.
    pub removed: bool,
    /// Its changes (limits included, as constraints).
    pub changes: Vec<Change>,
}

/// Added and removed notes of one envelope list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotesDelta {
    /// In the new envelope only.
    pub added: Vec<GrantNote>,
    /// In the old envelope only.
    pub removed: Vec<GrantNote>,
    /// The added notes whose effect the old sandbox already had (see
    /// [`TargetDelta`]): reported, but they do not widen.
    pub covered: Vec<GrantNote>,
}

impl NotesDelta {
    /// New gaps: notes of `new` that no note of `old` in the same list
    /// already stood for. A note stands for another when it gives the same
    /// reason, or when their grants are [`related`] and the reasons differ
    /// only in the grant's own path (a grant narrowed, widened or restated
    /// keeps the gap it had, e.g. "files under /data can be run"; the grant
    /// change itself is reported). Closed gaps are the same the other way
    /// round, for grants still in the new policy (a revoked or replaced
    /// grant's notes leave with it).
    fn of(old: &[GrantNote], new: &[GrantNote], old_policy: &Policy, new_policy: &Policy) -> NotesDelta {
        let added = fresh(new, new_policy, old, old_policy);
        let removed = fresh(old, old_policy, new, new_policy)
            .into_iter()
            .filter(|x| new_policy.grants.contains_key(&x.grant))
            .collect();
        NotesDelta {
            added,
            removed,
            covered: Vec::new(),
        }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// An added note the old sandbox did not already allow.
    pub fn widens(&self) -> bool {
        self.added.iter().any(|x| !self.covered.contains(x))
    }

    /// Mark the added notes whose grant, taken as wide as the target makes
    /// it, the old policy's grants (taken the same way) already cover.
    fn mark_covered(&mut self, old: &Policy, old_env: &Envelope, new: &Policy, new_env: &Envelope) {
        let old_eff: Vec<Capability> = old.grants.values().map(|g| as_bound(g, old_env)).collect();
        self.covered = self
            .added
            .iter()
            .filter(|x| match new.grants.get(&x.grant) {
                Some(g) if matches!(g.cap, Capability::Fs(_)) => covers::covered_by(&as_bound(g, new_env), &old_eff),
                _ => false,
            })
            .cloned()
            .collect();
    }
}

/// An `fs` grant as wide as a target with notes about it really makes it:
/// a grant the target leaves unenforced (bind mounts are readable and
/// executable) gets read and exec, a grant it widened (`/*` is bound as the
/// whole directory) covers the directory. Other grants as declared.
fn as_bound(g: &crate::policy::Grant, env: &Envelope) -> Capability {
    let noted = |l: &[GrantNote]| l.iter().any(|n| n.grant == g.canonical);
    match &g.cap {
        Capability::Fs(f) => {
            let mut f = f.clone();
            if noted(&env.unenforced) {
                f.actions.insert(crate::capability::FsAction::Read);
                f.actions.insert(crate::capability::FsAction::Exec);
            }
            if noted(&env.widened) && f.glob == crate::capability::Glob::Children {
                f.glob = crate::capability::Glob::Exact;
            }
            Capability::Fs(f)
        }
        c => c.clone(),
    }
}

/// The notes of `notes` that no note of `other_notes` stands for (see [`NotesDelta`]).
fn fresh(notes: &[GrantNote], own: &Policy, other_notes: &[GrantNote], other: &Policy) -> Vec<GrantNote> {
    let shape = |note: &GrantNote, cap: Option<&Capability>| match cap {
        Some(Capability::Fs(f)) => note.reason.replace(&f.path, "<path>"),
        _ => note.reason.clone(),
    };
    let mut out: Vec<GrantNote> = notes
        .iter()
        .filter(|x| {
            let cap = own.grants.get(&x.grant).map(|g| &g.cap);
            !other_notes.iter().any(|y| {
                if y.reason == x.reason {
                    return true;
                }
                let ocap = other.grants.get(&y.grant).map(|g| &g.cap);
                match (cap, ocap) {
                    (Some(c), Some(o)) => related(c, o) && shape(x, cap) == shape(y, ocap),
                    _ => false,
                }
            })
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Envelope changes of one target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetDelta {
    /// `unenforced`: what nothing enforces.
    pub unenforced: NotesDelta,
    /// `widened`: what the target had to widen.
    pub widened: NotesDelta,
    /// `launcher`: what only `capgate exec` enforces.
    pub launcher: NotesDelta,
    /// The target failed to lower one side (the message), if it did.
    pub error: Option<String>,
}

impl TargetDelta {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.unenforced.is_empty() && self.widened.is_empty() && self.launcher.is_empty() && self.error.is_none()
    }
}

/// A header field that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// `name`, `version`, `grammar`, `profile`, `image`, `command`.
    pub field: &'static str,
    /// Old value as text (`null` for none).
    pub old: String,
    /// New value as text.
    pub new: String,
    /// The change widens the sandbox (a profile whose baseline binds a path
    /// the old one did not).
    pub widens: bool,
}

/// The permission delta between two policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// Old `name version`.
    pub old_id: (String, String),
    /// New `name version`.
    pub new_id: (String, String),
    /// Header fields that changed.
    pub fields: Vec<FieldChange>,
    /// The merged policy's grant changes (limits excluded), by kind then grant.
    pub effective: Vec<Change>,
    /// Limit changes of the merged policy.
    pub limits: Vec<LimitChange>,
    /// Variables newly passed as secrets (`env:inject`).
    pub env_secrets_added: Vec<String>,
    /// Declared server-level grants.
    pub server: ScopeDelta,
    /// Declared grants per tool (only tools with a change).
    pub tools: BTreeMap<String, ScopeDelta>,
    /// Envelope changes per target (only targets with a change).
    pub targets: BTreeMap<Target, TargetDelta>,
}

impl Delta {
    /// Anything the sandbox may do now that it could not before: a grant
    /// granted, widened or changed so it allows more, a limit raised or
    /// removed, a different profile, or a grant newly
    /// unenforced or widened by a target beyond what the old sandbox
    /// already allowed (a note the old grants cover is reported, but does
    /// not widen).
    pub fn widens(&self) -> bool {
        self.effective.iter().any(|c| c.widens)
            || self.limits.iter().any(|l| l.widens)
            || self.fields.iter().any(|f| f.widens)
            || self
                .targets
                .values()
                .any(|t| t.unenforced.widens() || t.widened.widens() || t.error.is_some())
    }

    /// No difference at all (including header fields and per-tool moves).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.effective.is_empty()
            && self.limits.is_empty()
            && self.env_secrets_added.is_empty()
            && self.server.changes.is_empty()
            && self.tools.is_empty()
            && self.targets.is_empty()
    }

    /// Entries of the effective view per [`ChangeKind`] (every kind present, zeros included).
    pub fn counts(&self) -> BTreeMap<ChangeKind, usize> {
        count(&self.effective)
    }
}

/// Entries per kind, every kind present.
pub fn count(changes: &[Change]) -> BTreeMap<ChangeKind, usize> {
    let mut m: BTreeMap<ChangeKind, usize> = [
        ChangeKind::Granted,
        ChangeKind::Revoked,
        ChangeKind::Widened,
        ChangeKind::Narrowed,
        ChangeKind::Changed,
    ]
    .into_iter()
    .map(|k| (k, 0))
    .collect();
    for c in changes {
        *m.entry(c.kind).or_default() += 1;
    }
    m
}

/// A set of grants of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The merged policy's grants, limits excluded (they are compared as
    /// [`LimitChange`]s).
    Effective,
    /// The grants declared at server level.
    Server,
    /// The grants one tool declares.
    Tool(&'a str),
}

/// The grants of `scope` as (canonical string, capability), in byte order:
/// the input of [`compare`].
pub fn grants_of(p: &Policy, scope: Scope<'_>) -> Vec<(String, Capability)> {
    p.grants
        .values()
        .filter(|g| match scope {
            Scope::Effective => !matches!(g.cap, Capability::Limit(_)),
            Scope::Server => g.server,
            Scope::Tool(t) => g.tools.contains(t),
        })
        .map(|g| (g.canonical.clone(), g.cap.clone()))
        .collect()
}

/// The tools a policy knows: those that declare a grant.
pub fn tools_of(p: &Policy) -> BTreeSet<String> {
    p.grants.values().flat_map(|g| g.tools.iter().cloned()).collect()
}

/// The delta from `old` to `new`, with the envelopes of every target.
pub fn diff(old: &Policy, new: &Policy) -> Delta {
    diff_targets(old, new, &Target::ALL.into_iter().collect())
}

/// The delta from `old` to `new`, comparing the envelopes of `targets` only.
pub fn diff_targets(old: &Policy, new: &Policy, targets: &BTreeSet<Target>) -> Delta {
    let effective = compare(&grants_of(old, Scope::Effective), &grants_of(new, Scope::Effective));

    let mut limits = Vec::new();
    let names: BTreeSet<&'static str> = old.limits.keys().chain(new.limits.keys()).copied().collect();
    for name in names {
        let (o, n) = (old.limits.get(name), new.limits.get(name));
        if o == n {
            continue;
        }
        let widens = match (o, n) {
            (Some(o), Some(n)) => n.value() > o.value(),
            (Some(_), None) => true,
            // No nofile grant is not "no limit": capgate exec applies its
            // default on docker/podman, so adding one above it raises it.
            (None, Some(n)) if name == "nofile" => n.value() > crate::capability::LAUNCHER_DEFAULT_NOFILE,
            _ => false,
        };
        limits.push(LimitChange {
            name,
            old: o.map(|l| l.value_str()),
            new: n.map(|l| l.value_str()),
            widens,
        });
    }

    let env_secrets_added = new
        .env
        .iter()
        .filter(|(name, e)| {
            e.action == crate::capability::EnvAction::Inject
                && old.env.get(*name).map(|o| o.action) != Some(crate::capability::EnvAction::Inject)
        })
        .map(|(name, _)| name.clone())
        .collect();

    let server_old = grants_of(old, Scope::Server);
    let server_new = grants_of(new, Scope::Server);
    let server = ScopeDelta {
        added: server_old.is_empty() && !server_new.is_empty(),
        removed: !server_old.is_empty() && server_new.is_empty(),
        changes: compare(&server_old, &server_new),
    };
    let (old_tools, new_tools) = (tools_of(old), tools_of(new));
    let mut tools = BTreeMap::new();
    for t in old_tools.union(&new_tools) {
        let d = ScopeDelta {
            added: !old_tools.contains(t),
            removed: !new_tools.contains(t),
            changes: compare(&grants_of(old, Scope::Tool(t)), &grants_of(new, Scope::Tool(t))),
        };
        if !d.changes.is_empty() {
            tools.insert(t.clone(), d);
        }
    }

    let mut target_deltas = BTreeMap::new();
    for t in targets {
        let d = match (target::lower(*t, old), target::lower(*t, new)) {
            (Ok(o), Ok(n)) => {
                let (oe, ne) = (&o.envelope, &n.envelope);
                let mut d = TargetDelta {
                    unenforced: NotesDelta::of(&oe.unenforced, &ne.unenforced, old, new),
                    widened: NotesDelta::of(&oe.widened, &ne.widened, old, new),
                    launcher: NotesDelta::of(&oe.launcher, &ne.launcher, old, new),
                    error: None,
                };
                d.unenforced.mark_covered(old, oe, new, ne);
                d.widened.mark_covered(old, oe, new, ne);
                d
            }
            (Ok(_), Err(e)) => TargetDelta {
                error: Some(format!("the new policy does not lower: [{}] {}", e.code, e.message)),
                ..Default::default()
            },
            (Err(_), Ok(_)) | (Err(_), Err(_)) => continue,
        };
        if !d.is_empty() {
            target_deltas.insert(*t, d);
        }
    }

    Delta {
        old_id: (old.name.clone(), old.version.clone()),
        new_id: (new.name.clone(), new.version.clone()),
        fields: fields(old, new),
        effective,
        limits,
        env_secrets_added,
        server,
        tools,
        targets: target_deltas,
    }
}

fn fields(old: &Policy, new: &Policy) -> Vec<FieldChange> {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "null".into());
    let cmd = |c: &Option<Vec<String>>| match c {
        Some(v) => crate::json::Json::strs(v).to_compact(),
        None => "null".into(),
    };
    let pairs: [(&'static str, String, String, bool); 6] = [
        ("name", old.name.clone(), new.name.clone(), false),
        ("version", old.version.clone(), new.version.clone(), false),
        (
            "grammar",
            old.grammar.as_str().into(),
            new.grammar.as_str().into(),
            false,
        ),
        (
            "profile",
            old.profile.as_str().into(),
            new.profile.as_str().into(),
            // Widens when the new baseline binds a path the old did not.
            crate::policy::baseline_paths(new.profile)
                .iter()
                .any(|p| !crate::policy::baseline_paths(old.profile).contains(p)),
        ),
        ("image", opt(&old.image), opt(&new.image), false),
        ("command", cmd(&old.command), cmd(&new.command), false),
    ];
    pairs
        .into_iter()
        .filter(|(_, o, n, _)| o != n)
        .map(|(field, old, new, widens)| FieldChange {
            field,
            old,
            new,
            widens,
        })
        .collect()
}

fn kind_name(c: &Capability) -> &'static str {
    match c {
        Capability::Fs(_) => "fs",
        Capability::Net(_) => "net",
        Capability::Env(_) => "env",
        Capability::Exec(_) => "exec",
        Capability::Ipc(_) => "ipc",
        Capability::Clock(_) => "clock",
        Capability::Limit(_) => "limit",
        Capability::Assert(_) => "assert",
    }
}

fn kind_rank(k: &str) -> usize {
    crate::capability::KINDS
        .iter()
        .position(|x| *x == k)
        .unwrap_or(usize::MAX)
}

/// Compare two sets of declared grants (canonical string, capability).
///
/// Identical grants drop out. Each removed grant is "lost" unless the new
/// set still covers it; each added grant is "gained" unless the old set
/// already covered it. Removed and added grants that are [`related`] form
/// one entry (connected components). An entry that neither gains nor loses
/// anything (a merge, a split, a restatement) is no change and is left out.
/// Limits and assertions are constraints: adding one narrows, removing one
/// widens.
pub fn compare(old: &[(String, Capability)], new: &[(String, Capability)]) -> Vec<Change> {
    let old_keys: BTreeSet<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
    let new_keys: BTreeSet<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
    let mut removed: Vec<&(String, Capability)> = old.iter().filter(|(k, _)| !new_keys.contains(k.as_str())).collect();
    let mut added: Vec<&(String, Capability)> = new.iter().filter(|(k, _)| !old_keys.contains(k.as_str())).collect();
    removed.sort_by(|a, b| a.0.cmp(&b.0));
    removed.dedup_by(|a, b| a.0 == b.0);
    added.sort_by(|a, b| a.0.cmp(&b.0));
    added.dedup_by(|a, b| a.0 == b.0);

    // Nodes: removed first, then added; union-find over `related`.
    let nodes: Vec<(&(String, Capability), bool)> = removed
        .iter()
        .map(|x| (*x, false))
        .chain(added.iter().map(|x| (*x, true)))
        .collect();
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..nodes.len() {
        for j in i + 1..nodes.len() {
            if nodes[i].1 != nodes[j].1 && related(&nodes[i].0 .1, &nodes[j].0 .1) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }

    let old_caps: Vec<&Capability> = old.iter().map(|(_, c)| c).collect();
    let new_caps: Vec<&Capability> = new.iter().map(|(_, c)| c).collect();
    let mut out = Vec::new();
    for members in groups.values() {
        let mut change = Change {
            kind: ChangeKind::Changed,
            cap_kind: kind_name(&nodes[members[0]].0 .1),
            old: Vec::new(),
            new: Vec::new(),
            widens: false,
            narrows: false,
        };
        for &i in members {
            let ((canon, cap), is_new) = (nodes[i].0, nodes[i].1);
            let constraint = matches!(cap, Capability::Limit(_) | Capability::Assert(_));
            if is_new {
                change.new.push(canon.clone());
                if constraint {
                    // A new constraint narrows unless it replaces a tighter one.
                    if !covered_by(cap, old_caps.iter().copied()) {
                        change.narrows = true;
                    }
                } else if !covered_by(cap, old_caps.iter().copied()) {
                    change.widens = true;
                }
            } else {
                change.old.push(canon.clone());
                if constraint {
                    if !covered_by(cap, new_caps.iter().copied()) {
                        change.widens = true;
                    }
                } else if !covered_by(cap, new_caps.iter().copied()) {
                    change.narrows = true;
                }
            }
        }
        // A limit whose value changed: raised widens, lowered narrows (the
        // "uncovered" checks above count constraints from both sides).
        if change.cap_kind == "limit" && !change.old.is_empty() && !change.new.is_empty() {
            let value = |canon: &str, set: &[(String, Capability)]| {
                set.iter().find(|(k, _)| k == canon).and_then(|(_, c)| match c {
                    Capability::Limit(l) => Some(l.value()),
                    _ => None,
                })
            };
            let (o, n) = (value(&change.old[0], old), value(&change.new[0], new));
            change.widens = n > o;
            change.narrows = n < o;
        }
        // No more and no less: a restatement, merge or split, which is no
        // change at all; except env read <-> inject, the same access with a
        // different meaning (the value is, or is no longer, declared a secret).
        let env_meaning = change.cap_kind == "env" && !change.old.is_empty() && !change.new.is_empty();
        if !change.widens && !change.narrows && !env_meaning {
            continue;
        }
        change.kind = match (
            change.old.is_empty(),
            change.new.is_empty(),
            change.widens,
            change.narrows,
        ) {
            (true, _, _, _) => ChangeKind::Granted,
            (_, true, _, _) => ChangeKind::Revoked,
            (_, _, true, true) => ChangeKind::Changed,
            (_, _, true, false) => ChangeKind::Widened,
            (_, _, false, true) => ChangeKind::Narrowed,
            _ => ChangeKind::Changed,
        };
        out.push(change);
    }
    out.sort_by(|a, b| {
        let first = |c: &Change| c.old.first().or(c.new.first()).cloned().unwrap_or_default();
        (kind_rank(a.cap_kind), first(a)).cmp(&(kind_rank(b.cap_kind), first(b)))
    });
    out
}
