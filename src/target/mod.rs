//! Stage 4: [`Policy`] → artifacts, one pure function per backend.
//!
//! Adding a backend is one file, one [`Target`] variant and one golden
//! column. Every envelope says what the target widened, what only
//! `capgate exec` enforces (`launcher`) and what nothing enforces
//! (`unenforced`), so no grant is ever dropped silently.

mod bwrap;
mod docker;
mod egress;
mod oci;

use crate::artifact::Artifact;
use crate::diag::Diagnostic;
use crate::json::Writer;
use crate::policy::{Policy, Widening};
use std::collections::BTreeMap;

pub use bwrap::{BIND_FLAGS as BWRAP_BIND_FLAGS, MAX_BWRAP_OPTIONS};
pub use oci::ROOTFS as OCI_ROOTFS;

/// Where the launcher binds the egress proxy socket inside the sandbox.
pub const PROXY_SOCKET: &str = "/run/capgate/proxy.sock";
/// The in-sandbox proxy address the bridge listens on.
pub const PROXY_URL: &str = "http://127.0.0.1:3128";
/// The unprivileged uid:gid the sandbox runs as.
pub const SANDBOX_USER: &str = "65534:65534";
/// The proxy variables capgate sets when egress is granted (a manifest
/// cannot grant them then: CG0302).
pub const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
/// Baseline environment, overridable by `env:set`.
pub const BASE_ENV: &[(&str, &str)] = &[("HOME", "/tmp"), ("LANG", "C.UTF-8"), ("PATH", "/usr/bin:/bin")];

/// A compile target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// bubblewrap argv.
    Bwrap,
    /// docker/podman `run` flags.
    Docker,
    /// squid and nftables allowlists, pinned hosts.
    Egress,
    /// OCI runtime-spec `config.json` (opt-in).
    Oci,
}

impl Target {
    /// Every target, in canonical order.
    pub const ALL: [Target; 4] = [Target::Bwrap, Target::Docker, Target::Egress, Target::Oci];

    /// The targets a compile without `--target` writes (oci is opt-in
    /// until it is stable, DESIGN §13).
    pub const DEFAULT: [Target; 3] = [Target::Bwrap, Target::Docker, Target::Egress];

    /// `bwrap`, `docker`, `egress`, `oci`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Bwrap => "bwrap",
            Target::Docker => "docker",
            Target::Egress => "egress",
            Target::Oci => "oci",
        }
    }

    /// Parse a target name.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The fixed files this target writes (relative paths).
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Target::Bwrap => &["bwrap/argv.json", "bwrap/args0"],
            Target::Docker => &["docker/argv.json"],
            Target::Egress => &["egress/hosts", "egress/nftables.nft", "egress/squid.conf"],
            Target::Oci => &["oci/config.json"],
        }
    }
}

/// A grant with a reason (for `unenforced` and `launcher`).
pub type Gap = crate::policy::GrantNote;

/// The honesty fields every envelope carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Grants the target had to widen.
    pub widened: Vec<Widening>,
    /// Grants nothing enforces (too wide or not honoured).
    pub unenforced: Vec<Gap>,
    /// Grants only `capgate exec` enforces.
    pub launcher: Vec<Gap>,
    /// Notes for reviewers.
    pub notes: Vec<String>,
}

impl Envelope {
    fn new(p: &Policy) -> Envelope {
        Envelope {
            widened: p.widened.clone(),
            ..Default::default()
        }
    }
    fn unenforced(&mut self, grant: &str, reason: impl Into<String>) {
        self.unenforced.push(Gap {
            grant: grant.into(),
            reason: reason.into(),
        });
    }
    fn launcher(&mut self, grant: &str, reason: impl Into<String>) {
        self.launcher.push(Gap {
            grant: grant.into(),
            reason: reason.into(),
        });
    }
    fn finish(&mut self) {
        self.unenforced.sort();
        self.unenforced.dedup();
        self.launcher.sort();
        self.launcher.dedup();
        self.widened.sort();
        self.widened.dedup();
        self.notes.sort();
        self.notes.dedup();
    }
}

/// The output of one target.
pub struct Lowered {
    /// Files.
    pub artifacts: Vec<Artifact>,
    /// Its envelope (for --strict).
    pub envelope: Envelope,
}

/// Lower a policy for one target. Pure: no I/O, no environment.
pub fn lower(target: Target, p: &Policy) -> Result<Lowered, Diagnostic> {
    match target {
        Target::Bwrap => bwrap::lower(p),
        Target::Docker => docker::lower(p),
        Target::Egress => Ok(egress::lower(p)),
        Target::Oci => oci::lower(p),
    }
}

/// The envelope's `env`: `[{action, name, value?}]` (values only for `set`).
fn write_env_entries(w: &mut Writer, p: &Policy) {
    w.begin_array();
    for (name, e) in &p.env {
        w.begin_object();
        w.key("action").str(e.action.as_str());
        w.key("name").str(name);
        if let Some(v) = &e.value {
            w.key("value").str(v);
        }
        w.end();
    }
    w.end();
}

/// The final environment set in the sandbox: baseline, overridden by
/// `env:set`, plus the proxy variables when egress is granted.
///
/// Names and values borrow from the policy (or are constants), so building
/// the map allocates no strings; `&str` orders like `String` (by bytes).
fn fixed_env(p: &Policy) -> BTreeMap<&str, &str> {
    let mut env: BTreeMap<&str, &str> = BASE_ENV.iter().copied().collect();
    for (name, e) in &p.env {
        match (&e.action, &e.value) {
            (crate::capability::EnvAction::Set, Some(v)) => {
                env.insert(name, v);
            }
            _ => {
                env.remove(name.as_str());
            }
        }
    }
    if p.has_egress() {
        for k in PROXY_VARS {
            env.insert(k, PROXY_URL);
        }
    }
    env
}

/// Gaps shared by bwrap and docker (both bind-mount and lack an exec filter).
fn common_gaps(p: &Policy, env: &mut Envelope, runtime: &str) {
    use crate::capability::{Capability, FsAction, IpcEndpoint, NetAction, Proto};
    for g in p.grants.values() {
        match &g.cap {
            Capability::Fs(f) if !f.actions.contains(&FsAction::Exec) => env.unenforced(
                &g.canonical,
                format!(
                    "{runtime} bind mounts are executable: files under {} can be run",
                    f.path
                ),
            ),
            Capability::Exec(_) => env.unenforced(
                &g.canonical,
                format!("{runtime} cannot restrict which programs run; every bound file is executable"),
            ),
            Capability::Net(n) => {
                if n.actions.contains(&NetAction::Listen) {
                    env.unenforced(
                        &g.canonical,
                        "the sandbox has no network; listening sockets are reachable only inside it",
                    );
                }
                if n.actions.contains(&NetAction::Connect) {
                    if n.proto == Proto::Udp {
                        env.unenforced(
                            &g.canonical,
                            "the egress proxy carries TCP only; this UDP grant stays blocked",
                        );
                    } else {
                        env.launcher(
                            &g.canonical,
                            format!(
                                "reachable only through capgate exec's allowlist proxy (egress/squid.conf, bridged from {PROXY_SOCKET} to {PROXY_URL}) by clients that use HTTP(S)_PROXY (HTTP and CONNECT); others get no network"
                            ),
                        );
                    }
                }
            }
            Capability::Ipc(i) if matches!(i.endpoint, IpcEndpoint::Wayland | IpcEndpoint::DbusSession) => env
                .unenforced(
                    &g.canonical,
                    "the socket lives in the user's runtime directory, which differs per login; it is not bound",
                ),
            _ => {}
        }
    }
}
