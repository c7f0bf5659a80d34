//! docker/podman: `docker/argv.json` with `run` flags that work on both
//! (`flags`) and podman-only ones (`podman_flags`).
//!
//! Deny by default: read-only root, no capabilities, no-new-privileges, an
//! unprivileged user, no network (egress, when granted, is a unix socket the
//! launcher bridges in; never the default bridge or the host network).

use super::{common_gaps, fixed_env, write_env_entries, Envelope, Lowered, SANDBOX_USER};
use crate::artifact::Artifact;
use crate::capability::{Capability, EnvAction, IpcEndpoint, Limit};
use crate::diag::Diagnostic;
use crate::json::Writer;
use crate::manifest::Profile;
use crate::policy::{self, Policy};
use std::borrow::Cow;

pub(super) fn lower(p: &Policy) -> Result<Lowered, Diagnostic> {
    let mut env = Envelope::new(p);
    // Constants and names are borrowed; only the formatted values are owned.
    let mut flags: Vec<Cow<str>> = Vec::with_capacity(64);
    flags.extend(
        [
            "--rm",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--user",
            SANDBOX_USER,
            "--network",
            "none",
            "--hostname",
            "mcp",
            "--workdir",
            "/",
        ]
        .map(Cow::Borrowed),
    );
    // A grant of the host's /tmp replaces the private tmpfs (one mount per destination).
    if !p.binds_host_tmp() {
        let tmpfs = match p.limits.get("tmpfs") {
            Some(Limit::Tmpfs(b)) => format!("/tmp:rw,nosuid,nodev,mode=1777,size={b}"),
            _ => "/tmp:rw,nosuid,nodev,mode=1777".into(),
        };
        flags.extend(["--tmpfs".into(), tmpfs.into()]);
    }
    for l in p.limits.values() {
        match l {
            // --memory-swap equal to --memory: no swap on top (docker's
            // default allows as much swap again).
            Limit::Memory(b) => flags.extend([
                "--memory".into(),
                format!("{b}b").into(),
                "--memory-swap".into(),
                format!("{b}b").into(),
            ]),
            Limit::Pids(n) => flags.extend(["--pids-limit".into(), n.to_string().into()]),
            Limit::Cpu(m) => flags.extend(["--cpus".into(), cpus(*m).into()]),
            Limit::Nofile(n) => flags.extend(["--ulimit".into(), format!("nofile={n}:{n}").into()]),
            Limit::Tmpfs(_) => {}
        }
    }

    let mut volumes: Vec<(&str, &'static str)> = Vec::with_capacity(4 + p.binds.len());
    if p.image.is_none() {
        match p.profile {
            Profile::Debian => volumes.push(("/usr", "ro")),
            Profile::Nix => volumes.push(("/nix/store", "ro")),
            Profile::None => {}
        }
        env.notes.push(
            "no image: the launcher runs a minimal base image (merged-/usr symlinks only) with the profile's binds"
                .into(),
        );
    }
    for b in p.effective_binds() {
        volumes.push((&b.path, b.mode.as_str()));
    }
    // With an image the profile's baseline is not bound, so a grant that
    // the baseline covered needs its own volume: else it would be lost
    // (the image's files instead of the host's) or, under a writable
    // ancestor grant, writable although it is granted read-only.
    if p.image.is_some() {
        for b in p
            .binds
            .iter()
            .filter(|b| b.covered_by.as_deref().is_some_and(|c| c.starts_with("profile:")))
        {
            volumes.push((&b.path, b.mode.as_str()));
        }
    }
    // Volumes capgate adds itself never hide a declared write.
    for m in p.implicit_mounts(p.profile == Profile::Debian && p.image.is_none()) {
        volumes.push((m.path, m.mode.as_str()));
    }
    volumes.sort_by(|a, b| crate::capability::path::cmp_tree(a.0, b.0).then_with(|| a.1.cmp(b.1)));
    // One volume per destination (docker rejects duplicates); writable if any is.
    volumes.dedup_by(|later, kept| {
        if later.0 != kept.0 {
            return false;
        }
        if later.1 == "rw" {
            kept.1 = "rw";
        }
        true
    });
    for (path, mode) in &volumes {
        flags.extend(["-v".into(), format!("{path}:{path}:{mode}").into()]);
    }

    for (k, v) in fixed_env(p) {
        flags.extend(["--env".into(), format!("{k}={v}").into()]);
    }
    let mut passed: Vec<&str> = p
        .env
        .iter()
        .filter(|(_, e)| e.action != EnvAction::Set)
        .map(|(k, _)| k.as_str())
        .collect();
    if p.ipc.iter().any(|i| i.endpoint == IpcEndpoint::X11) && !p.env.contains_key("DISPLAY") {
        passed.push("DISPLAY");
    }
    passed.sort();
    for name in passed {
        flags.extend(["--env".into(), name.into()]);
    }

    env.notes.push(
        "capgate exec adds a seccomp profile (podman's default without CLONE_NEWUSER) so the server cannot create user namespaces".into(),
    );
    common_gaps(p, &mut env, "docker");
    for g in p.grants.values() {
        if matches!(g.cap, Capability::Limit(Limit::Tmpfs(_))) && p.binds_host_tmp() {
            env.unenforced(
                &g.canonical,
                "/tmp is the host's directory (an fs grant), not a tmpfs; its size is the host filesystem's",
            );
        }
        if let Capability::Exec(e) = &g.cap {
            if e.nested_sandbox {
                env.unenforced(
                    &g.canonical,
                    "the container's seccomp profile and dropped capabilities block nested sandboxes; the program must run with its own sandbox off",
                );
            }
        }
    }
    for b in p.effective_binds().filter(|b| b.optional) {
        for g in &b.grants {
            env.launcher(
                g,
                "capgate exec leaves out optional volumes whose source is absent (docker would create it)",
            );
        }
    }
    for i in p.ipc.iter().filter(|i| i.optional) {
        env.launcher(
            &i.to_string(),
            "capgate exec leaves out optional volumes whose source is absent (docker would create it)",
        );
    }
    if p.command.is_none() {
        env.notes
            .push("the manifest has no command: pass it to capgate exec after `--`".into());
    }
    env.finish();

    let mut w = Writer::new();
    w.begin_object();
    w.key("assertions");
    policy::write_assertions(&mut w, &p.assertions);
    w.key("command");
    match &p.command {
        Some(c) => w.strs(c),
        None => w.null(),
    };
    w.key("env");
    write_env_entries(&mut w, p);
    w.key("flags").strs(&flags);
    w.key("format").str("capgate.docker/1");
    w.key("image").opt_str(p.image.as_deref());
    w.key("launcher");
    policy::write_grant_notes(&mut w, &env.launcher);
    w.key("notes").strs(&env.notes);
    w.key("podman_flags").strs(["--read-only-tmpfs=false"]);
    w.key("unenforced");
    policy::write_grant_notes(&mut w, &env.unenforced);
    w.key("widened");
    policy::write_grant_notes(&mut w, &env.widened);
    w.end();
    Ok(Lowered {
        artifacts: vec![Artifact::text("docker/argv.json", "application/json", w.finish())],
        envelope: env,
    })
}

/// Millicores as a `--cpus` value (`500` → `0.5`).
fn cpus(m: u64) -> String {
    let whole = m / 1000;
    let frac = m % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}
