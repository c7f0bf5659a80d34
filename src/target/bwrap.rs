//! bubblewrap: `bwrap/argv.json` (the envelope) and `bwrap/args0` (the
//! options, NUL-terminated, for `bwrap --args FD`).
//!
//! Baseline (proven in `reference/runtime-lab.md`): every namespace
//! unshared, nested user namespaces disabled, no capabilities, a fresh
//! session (no TIOCSTI), cleared environment, a read-only base view, minimal
//! /dev, /proc, a private /tmp. Mounts are sorted parent-then-child over the
//! baseline and the grants together, so a read-only child inside a writable
//! parent stays read-only (and the reverse).

use super::{common_gaps, fixed_env, write_env_entries, Envelope, Lowered};
use crate::artifact::Artifact;
use crate::capability::{path, Capability, EnvAction, IpcEndpoint, Limit};
use crate::diag::{Code, Diagnostic};
use crate::json::Writer;
use crate::manifest::Profile;
use crate::policy::{self, Mode, Policy};

/// bwrap refuses more options than this in an `--args` stream.
pub const MAX_BWRAP_OPTIONS: usize = 9000;

/// Options `capgate exec` may add besides secrets (proxy socket, bridge binary).
const LAUNCHER_RESERVE: usize = 16;

/// One mount's bwrap options. Every string borrows from the policy (or is
/// a constant), so the options are collected without copying any text.
struct Mount<'a> {
    dest: &'a str,
    /// 0 = baseline, 1 = grant.
    order: u8,
    args: Vec<&'a str>,
}

fn mount<'a>(dest: &'a str, order: u8, args: &[&'a str]) -> Mount<'a> {
    Mount {
        dest,
        order,
        args: args.to_vec(),
    }
}

/// Baseline mounts keep their fixed order; grants follow in
/// parent-then-child order. A grant that is a strict ancestor of a baseline
/// mount goes first, so no mount ever hides one that should lie on top of it.
/// bwrap's bind options: `--bind`, `--bind-try`, `--ro-bind`, `--ro-bind-try`.
pub const BIND_FLAGS: [&str; 4] = ["--bind", "--bind-try", "--ro-bind", "--ro-bind-try"];

fn is_bind(flag: &str) -> bool {
    BIND_FLAGS.contains(&flag)
}

/// The bind option for a mode, `-try` when the source may be absent.
fn bind_flag(writable: bool, optional: bool) -> &'static str {
    match (writable, optional) {
        (true, false) => "--bind",
        (true, true) => "--bind-try",
        (false, false) => "--ro-bind",
        (false, true) => "--ro-bind-try",
    }
}

fn order_mounts(mounts: Vec<Mount<'_>>) -> Vec<Mount<'_>> {
    let (baseline, mut grants): (Vec<Mount>, Vec<Mount>) = mounts.into_iter().partition(|m| m.order == 0);
    grants.sort_by(|a, b| path::cmp_tree(a.dest, b.dest).then_with(|| a.args.cmp(&b.args)));
    // One bind per destination: a later bind would hide an earlier one (a
    // lost write, the TypeScript tool's "double binds"). Merge: writable if
    // any is, required unless all are optional.
    grants.dedup_by(|later, kept| {
        if later.dest != kept.dest || !is_bind(later.args[0]) || !is_bind(kept.args[0]) {
            return later.args == kept.args;
        }
        let rw = kept.args[0].starts_with("--bind") || later.args[0].starts_with("--bind");
        let optional = kept.args[0].ends_with("-try") && later.args[0].ends_with("-try");
        kept.args[0] = bind_flag(rw, optional);
        true
    });
    let is_prefix = |g: &Mount| {
        baseline
            .iter()
            .any(|b| b.dest != g.dest && path::is_under(b.dest, g.dest))
    };
    let (prefix, rest): (Vec<Mount>, Vec<Mount>) = grants.into_iter().partition(is_prefix);
    prefix.into_iter().chain(baseline).chain(rest).collect()
}

pub(super) fn lower(p: &Policy) -> Result<Lowered, Diagnostic> {
    let mut env = Envelope::new(p);
    // Every option borrows from the policy or is a constant.
    let mut opts: Vec<&str> = Vec::with_capacity(64);
    opts.extend(["--unshare-all", "--unshare-user"]);
    if p.nested_sandbox() {
        env.notes.push(
            "nestedSandbox: user namespaces may be created inside the sandbox (--disable-userns is left out)".into(),
        );
    } else {
        opts.push("--disable-userns");
    }
    opts.extend([
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--hostname",
        "mcp",
    ]);

    let mut mounts = Vec::with_capacity(8 + p.binds.len());
    match p.profile {
        Profile::Debian => {
            mounts.push(mount("/usr", 0, &["--ro-bind", "/usr", "/usr"]));
            for (link, target) in [
                ("/bin", "usr/bin"),
                ("/lib", "usr/lib"),
                ("/lib64", "usr/lib64"),
                ("/sbin", "usr/sbin"),
            ] {
                mounts.push(mount(link, 0, &["--symlink", target, link]));
            }
        }
        Profile::Nix => mounts.push(mount("/nix/store", 0, &["--ro-bind", "/nix/store", "/nix/store"])),
        Profile::None => {}
    }
    mounts.push(mount("/proc", 0, &["--proc", "/proc"]));
    mounts.push(mount("/dev", 0, &["--dev", "/dev"]));
    mounts.push(mount("/tmp", 0, &["--tmpfs", "/tmp"]));

    for b in p.effective_binds() {
        let flag = bind_flag(b.mode == Mode::Rw, b.optional);
        mounts.push(mount(&b.path, 1, &[flag, &b.path, &b.path]));
    }
    // Mounts capgate adds itself never hide a declared write.
    for m in p.implicit_mounts(p.profile == Profile::Debian) {
        let flag = bind_flag(m.mode == Mode::Rw, m.optional);
        mounts.push(mount(m.path, 1, &[flag, m.path, m.path]));
    }
    let ordered = order_mounts(mounts);
    for m in ordered {
        opts.extend(m.args);
    }

    let fixed = fixed_env(p);
    for (k, v) in &fixed {
        opts.extend(["--setenv", k, v]);
    }
    opts.extend(["--chdir", "/"]);

    // capgate exec appends `--setenv NAME VALUE` for each passed variable and
    // the egress wiring (proxy socket and bridge binds) to the same stream.
    let passed = p.env.values().filter(|e| e.action != EnvAction::Set).count();
    let needed = opts.len() + 3 * passed + LAUNCHER_RESERVE;
    if needed > MAX_BWRAP_OPTIONS {
        return Err(Diagnostic::error(
            Code::TooManyOptions,
            format!(
                "the bwrap argv needs {needed} options ({} compiled, the rest added at launch); bwrap accepts at most {MAX_BWRAP_OPTIONS}",
                opts.len()
            ),
        )
        .hint("grant parent directories instead of thousands of single paths"));
    }

    // Honesty fields.
    common_gaps(p, &mut env, "bwrap");
    let host_tmp = p.binds_host_tmp();
    for g in p.grants.values() {
        match &g.cap {
            Capability::Env(e) if e.action != EnvAction::Set => env.launcher(
                &g.canonical,
                "capgate exec passes the launcher's value through `bwrap --args FD` (never argv, never a file)",
            ),
            Capability::Limit(Limit::Nofile(_)) => {
                env.launcher(&g.canonical, "capgate exec sets RLIMIT_NOFILE before starting bwrap")
            }
            Capability::Limit(Limit::Tmpfs(_)) if host_tmp => env.unenforced(
                &g.canonical,
                "/tmp is the host's directory (an fs grant), not a tmpfs; its size is the host filesystem's",
            ),
            Capability::Limit(Limit::Tmpfs(_)) => env.launcher(
                &g.canonical,
                "capgate exec mounts a tmpfs of this size at /tmp (as root) or passes bwrap --size (0.10+); it refuses to start when it can do neither",
            ),
            Capability::Limit(_) => env.launcher(
                &g.canonical,
                "capgate exec runs bwrap in a cgroup (systemd-run --scope, or one it creates as root); it refuses to start when it can do neither",
            ),
            Capability::Ipc(i)
                if i.endpoint == IpcEndpoint::X11
                    && p.env.get("DISPLAY").is_some_and(|e| e.action == EnvAction::Read) =>
            {
                env.launcher(&g.canonical, "capgate exec passes DISPLAY through `bwrap --args FD`")
            }
            _ => {}
        }
    }
    if p.binds.iter().any(|b| b.optional && b.covered_by.is_none()) {
        env.notes
            .push("optional paths use --ro-bind-try/--bind-try and are skipped when absent".into());
    }
    for b in p.binds.iter().filter(|b| b.covered_by.is_some()) {
        env.notes.push(format!(
            "{} needs no bind of its own: {} already grants it {}",
            b.path,
            b.covered_by.as_deref().unwrap_or_default(),
            b.mode.as_str()
        ));
    }
    if p.command.is_none() {
        env.notes
            .push("the manifest has no command: pass it to capgate exec after `--`".into());
    }
    env.finish();

    // argv = bwrap, the options, `--`, the command (written without copying).
    let command: &[String] = p.command.as_deref().unwrap_or_default();
    let argv = std::iter::once("bwrap")
        .chain(opts.iter().copied())
        .chain(std::iter::once("--"))
        .chain(command.iter().map(String::as_str));

    let mut w = Writer::new();
    w.begin_object();
    w.key("argv").strs(argv);
    w.key("assertions");
    policy::write_assertions(&mut w, &p.assertions);
    w.key("env");
    write_env_entries(&mut w, p);
    w.key("format").str("capgate.bwrap/1");
    w.key("launcher");
    policy::write_grant_notes(&mut w, &env.launcher);
    w.key("notes").strs(&env.notes);
    w.key("unenforced");
    policy::write_grant_notes(&mut w, &env.unenforced);
    w.key("widened");
    policy::write_grant_notes(&mut w, &env.widened);
    w.end();

    let mut args0 = Vec::with_capacity(opts.iter().map(|a| a.len() + 1).sum());
    for a in &opts {
        args0.extend_from_slice(a.as_bytes());
        args0.push(0);
    }
    Ok(Lowered {
        artifacts: vec![
            Artifact::text("bwrap/argv.json", "application/json", w.finish()),
            Artifact {
                path: "bwrap/args0".into(),
                media_type: "application/octet-stream",
                bytes: args0,
            },
        ],
        envelope: env,
    })
}
