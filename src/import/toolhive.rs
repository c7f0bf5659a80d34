//! ToolHive: a permission profile (`read`, `write`, `network`) or a registry
//! entry (`image`, `permissions`, `env_vars`, `args`, `tools`), alone or as
//! the single server of a legacy `servers` map.
//!
//! `read`/`write` mounts become `fs` grants (a write mount is a read-write
//! bind, so it grants read, write, create and delete); `allow_host` ×
//! `allow_port` become `net:connect` grants exactly as ToolHive's squid
//! matches them (a host `.example.com` is the apex and its subdomains);
//! `insecure_allow_all` and network mode `host` become a TODO.

use super::source::{flag, opt_text, Node};
use super::{Builder, Format, Imported};
use crate::diag::Diagnostic;

pub fn import(root: Node<'_>) -> Result<Imported, Diagnostic> {
    let (key, entry) = match root.get("servers")? {
        Some(servers) => {
            let ms = servers.members()?;
            if ms.len() != 1 {
                return Err(servers
                    .error(format!("the registry holds {} servers; capgate imports one", ms.len()))
                    .hint("copy the one server's entry into its own file"));
            }
            let (k, v) = ms.into_iter().next().expect("one");
            (Some(k), v)
        }
        None => (None, root.clone()),
    };
    let is_entry = entry.get("image")?.is_some() || entry.get("permissions")?.is_some();
    let name = opt_text(&entry, "name")?
        .or(key)
        .unwrap_or_else(|| "toolhive-server".to_string());
    let image = opt_text(&entry, "image")?;
    let (version, version_note) = super::image_version(image.as_deref(), "ToolHive");
    let mut b = Builder::new(Format::Toolhive, &name, &version);
    b.note(&version_note);
    if !is_entry {
        profile(&mut b, &entry)?;
        return Ok(b.finish());
    }
    for k in entry.keys() {
        match k.as_str() {
            "name" | "image" | "permissions" | "env_vars" | "args" | "tools" | "transport" | "target_port" => {}
            other => b.ignored(other),
        }
    }
    if let Some(i) = &image {
        b.image("image", i);
        if !i.contains("@sha256:") {
            b.note(&format!(
                "the image `{i}` is not pinned by digest; pin it (image@sha256:...) so the key names exactly what runs"
            ));
        }
    }
    match entry.get("permissions")? {
        Some(p) => profile(&mut b, &p)?,
        None => b.todo(
            None,
            "net",
            "the entry has no permission profile, and ToolHive's default profile `network` allows all egress; capgate grants none until you decide: grant each host, or delete this entry for no network",
            &["net:connect:<host>:443".to_string()],
        ),
    }
    if let Some(t) = opt_text(&entry, "transport")? {
        if t != "stdio" {
            let port = opt_text(&entry, "target_port")?.unwrap_or_else(|| "<port>".to_string());
            b.todo(
                None,
                "net.listen",
                &format!("the server speaks {t} on port {port}; the sandbox has no network: grant the port it listens on, or run it over stdio"),
                &[format!("net:listen:127.0.0.1:{port}")],
            );
        }
    }
    if let Some(args) = entry.get("args")? {
        let a: Vec<String> = args.items()?.iter().map(|x| x.show()).collect();
        if !a.is_empty() {
            b.lossy(args.path(), &a.join(" "), "arguments for the image's entrypoint; capgate's command is a whole argv (bwrap runs it as the program): pass them with `capgate exec ... -- <args>`");
        }
    }
    if let Some(env) = entry.get("env_vars")? {
        for e in env.items()? {
            let n = super::source::req_text(&e, "name")?;
            if flag(&e, "secret")? {
                b.grant(
                    None,
                    e.path(),
                    &format!("env:inject:{n}"),
                    "a secret of the ToolHive entry; its value comes from the launcher's environment",
                );
            } else {
                b.grant(
                    None,
                    e.path(),
                    &format!("env:read:{n}"),
                    "a setting of the ToolHive entry; its value comes from the launcher's environment",
                );
            }
            if let Some(d) = opt_text(&e, "default")? {
                b.lossy(
                    &format!("{}.default", e.path()),
                    &d,
                    "capgate does not supply defaults: set the variable in the launcher's environment",
                );
            }
        }
    }
    if let Some(tools) = entry.get("tools")? {
        for t in tools.items()? {
            let n = t.text()?;
            b.tool(t.path(), &n, None);
        }
    }
    Ok(b.finish())
}

pub(super) fn profile(b: &mut Builder, p: &Node<'_>) -> Result<(), Diagnostic> {
    for k in p.keys() {
        if !matches!(k.as_str(), "name" | "read" | "write" | "network" | "privileged") {
            b.lossy(
                format!("{}.{k}", p.path()).trim_start_matches('.'),
                "",
                "not a permission-profile field capgate knows; left out",
            );
        }
    }
    if flag(p, "privileged")? {
        b.lossy(
            format!("{}.privileged", p.path()).trim_start_matches('.'),
            "true",
            "capgate never runs a privileged container; left out (the sandbox may need less than the server expects)",
        );
    }
    for (key, actions, what) in [
        ("read", "read", "read-only"),
        ("write", "read,write,create,delete", "read-write"),
    ] {
        if let Some(list) = p.get(key)? {
            for m in list.items()? {
                mount(b, &m.text()?, m.path(), actions, what);
            }
        }
    }
    let Some(net) = p.get("network")? else {
        b.todo(
            None,
            "net.allow_all",
            "the profile has no network block, which ToolHive's egress proxy renders as `http_access allow all`; capgate grants none until you decide: grant each host, `net:connect:*:*` for any public host and port (lint CG0350), or delete this entry for no network",
            &["net:connect:<host>:443".to_string(), "net:connect:*:*".to_string()],
        );
        return Ok(());
    };
    if let Some(mode) = opt_text(&net, "mode")? {
        match mode.as_str() {
            "none" => {
                b.note("network mode none: no network");
                return Ok(());
            }
            "host" => {
                b.todo(None, "net.mode_host", "the profile uses the host's network (mode host): capgate never shares the host network; grant the hosts the server needs", &["net:connect:<host>:443".to_string()]);
                return Ok(());
            }
            _ => {}
        }
    }
    if let Some(inb) = net.get("inbound")? {
        b.lossy(
            inb.path(),
            &inb.show(),
            "inbound rules are not imported; grant net:listen by hand if the server must accept connections",
        );
    }
    let Some(out) = net.get("outbound")? else {
        return Ok(());
    };
    if flag(&out, "insecure_allow_all")? {
        b.todo(
            None,
            "net.allow_all",
            "the profile allows all outbound traffic (insecure_allow_all); capgate grants none until you decide: grant each host, or `net:connect:*:*` for any public host and port (lint CG0350; loopback, private and metadata addresses stay denied)",
            &["net:connect:<host>:443".to_string(), "net:connect:*:*".to_string()],
        );
        return Ok(());
    }
    let hosts: Vec<String> = match out.get("allow_host")? {
        Some(h) => h.items()?.iter().map(|x| x.text()).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let ports: Vec<String> = match out.get("allow_port")? {
        Some(h) => h.items()?.iter().map(|x| x.text()).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let field = format!("{}.allow_host", out.path());
    if hosts.is_empty() && ports.is_empty() {
        b.note("outbound allows nothing: no network");
        return Ok(());
    }
    let host_rules: Vec<String> = if hosts.is_empty() {
        b.note("allow_port without allow_host: ToolHive allows those ports to any host; imported as `*` (lint CG0350)");
        vec!["*".to_string()]
    } else {
        hosts
            .iter()
            .flat_map(|h| match h.strip_prefix('.') {
                Some(apex) => vec![apex.to_string(), format!("*.{apex}")],
                None => vec![h.clone()],
            })
            .collect()
    };
    let port_rules: Vec<String> = if ports.is_empty() {
        b.note("allow_host without allow_port: ToolHive allows every port to those hosts; imported as port `*`");
        vec!["*".to_string()]
    } else {
        ports
    };
    for h in &host_rules {
        for port in &port_rules {
            b.grant(
                None,
                &field,
                &format!("net:connect:{h}:{port}"),
                "ToolHive's outbound allowlist (allow_host x allow_port)",
            );
        }
    }
    Ok(())
}

/// `/host/path`, `/host:/container` or `volume://name:/path`.
fn mount(b: &mut Builder, s: &str, field: &str, actions: &str, what: &str) {
    if s.starts_with("volume://") {
        b.lossy(field, s, "a named volume; capgate binds host paths only: left out");
        return;
    }
    let (host, container) = match s.split_once(':') {
        Some((h, c)) => (h, c),
        None => (s, s),
    };
    if host != container {
        b.todo(
            None,
            &format!("fs.mount.{}", super::param_name(container).to_ascii_lowercase()),
            &format!("the mount `{s}` puts {host} at {container}; capgate binds a path at the same path: decide how the server should find it ({what})"),
            &[format!("fs:{actions}:{host}")],
        );
        return;
    }
    b.grant(
        None,
        field,
        &format!("fs:{actions}:{host}"),
        &format!("a {what} mount of the ToolHive profile"),
    );
}
