//! Docker MCP catalog `server.yaml` (docker/mcp-registry).
//!
//! `image` is kept; `run.allowHosts` becomes `net:connect` grants,
//! `run.disableNetwork` means no network, and an entry with neither gets a
//! TODO (the gateway's default is open egress, which capgate never grants
//! on its own); `config.secrets` become `env:inject`; `run.volumes` become
//! `fs` grants where host and container path agree (read-only unless `:rw`,
//! as the gateway binds them); `{{x}}` templates become params.

use super::source::{flag, opt_text, req_text, Node};
use super::{param_name, Builder, Format, Imported};
use crate::diag::Diagnostic;

pub fn import(root: Node<'_>) -> Result<Imported, Diagnostic> {
    let name = req_text(&root, "name")?;
    let image = opt_text(&root, "image")?;
    let ty = opt_text(&root, "type")?.unwrap_or_else(|| "server".to_string());
    if ty == "remote" {
        return Err(root
            .error("a `remote` catalog entry runs elsewhere: there is nothing local to sandbox")
            .hint("capgate sandboxes servers that run on this machine"));
    }
    let (version, version_note) = super::image_version(image.as_deref(), "the catalog");
    let mut b = Builder::new(Format::DockerCatalog, &name, &version);
    b.note(&version_note);
    for k in root.keys() {
        match k.as_str() {
            "name" | "image" | "type" | "run" | "config" | "tools" | "oauth" => {}
            other => b.ignored(other),
        }
    }
    if ty == "poci" {
        b.lossy(
            "type",
            "poci",
            "a tool container started per call; capgate sandboxes the server itself",
        );
    }
    match &image {
        Some(i) => {
            b.image("image", i);
            if !i.contains("@sha256:") {
                b.note(&format!("the image `{i}` is not pinned by digest; pin it (image@sha256:...) so the key names exactly what runs"));
            }
        }
        None => b.lossy(
            "image",
            "(none)",
            "no image: the docker target falls back to capgate's base image",
        ),
    }
    let run = root.get("run")?;
    let mut net_stated = false;
    if let Some(run) = &run {
        for k in run.keys() {
            if !matches!(
                k.as_str(),
                "command" | "volumes" | "env" | "allowHosts" | "disableNetwork" | "user"
            ) {
                b.lossy(&format!("run.{k}"), "", "not a field capgate knows; left out");
            }
        }
        if let Some(c) = run.get("command")? {
            let args: Vec<String> = c.items()?.iter().map(|a| a.show()).collect();
            b.lossy(c.path(), &args.join(" "), "arguments for the image's entrypoint; capgate's command is a whole argv (bwrap runs it as the program): pass them with `capgate exec ... -- <args>`");
        }
        if let Some(u) = opt_text(run, "user")? {
            b.lossy("run.user", &u, "capgate runs every sandbox as 65534:65534");
        }
        if flag(run, "disableNetwork")? {
            net_stated = true;
            b.note("disableNetwork: no network grant (capgate's default)");
        }
        if let Some(hosts) = run.get("allowHosts")? {
            net_stated = true;
            for h in hosts.items()? {
                allow_host(&mut b, &h.text()?, h.path());
            }
        }
        if let Some(vols) = run.get("volumes")? {
            for v in vols.items()? {
                volume(&mut b, &v.text()?, v.path());
            }
        }
        if let Some(env) = run.get("env")? {
            for (k, v) in env.members()? {
                let t = templated(&mut b, &v.text()?, v.path());
                b.grant(None, v.path(), &format!("env:set:{k}={t}"), "a value the catalog sets");
            }
        }
    }
    if let Some(cfg) = root.get("config")? {
        if let Some(secrets) = cfg.get("secrets")? {
            for s in secrets.items()? {
                let env = req_text(&s, "env")?;
                let sname = opt_text(&s, "name")?.unwrap_or_default();
                b.grant(
                    None,
                    s.path(),
                    &format!("env:inject:{env}"),
                    &format!("the secret {sname}; its value comes from the launcher's environment"),
                );
            }
        }
        if let Some(env) = cfg.get("env")? {
            for e in env.items()? {
                let n = req_text(&e, "name")?;
                match opt_text(&e, "value")? {
                    Some(v) => {
                        let t = templated(&mut b, &v, e.path());
                        b.grant(None, e.path(), &format!("env:set:{n}={t}"), "a value the catalog sets");
                    }
                    None => b.grant(
                        None,
                        e.path(),
                        &format!("env:read:{n}"),
                        "a setting the catalog lists; its value comes from the launcher's environment",
                    ),
                }
            }
        }
        if cfg.get("parameters")?.is_some() {
            b.note("config.parameters (a JSON Schema) is not validated; the params it feeds are declared where {{...}} templates use them");
        }
    }
    if let Some(oauth) = root.get("oauth")? {
        for o in oauth.items()? {
            let provider = opt_text(&o, "provider")?.unwrap_or_default();
            match opt_text(&o, "env")? {
                Some(env) => b.grant(None, o.path(), &format!("env:inject:{env}"), &format!("the {provider} OAuth token; capgate does not run the OAuth flow, the launcher's environment supplies it")),
                None => b.lossy(o.path(), &provider, "an OAuth provider without an env name; capgate does not run OAuth flows"),
            }
        }
    }
    if let Some(tools) = root.get("tools")? {
        for t in tools.items()? {
            let n = req_text(&t, "name")?;
            let d = opt_text(&t, "description")?;
            b.tool(t.path(), &n, d.as_deref());
        }
    }
    if !net_stated {
        b.todo(
            None,
            "net",
            "the catalog entry states neither allowHosts nor disableNetwork, and the MCP gateway's default is open egress; capgate grants none until you decide: grant each host (net:connect:<host>:<port>), `net:connect:*:443` for any public HTTPS host (lint CG0350), or delete this entry for no network",
            &["net:connect:<host>:443".to_string(), "net:connect:*:443".to_string()],
        );
    }
    Ok(b.finish())
}

/// `host:port` optionally followed by `/tcp`, `/udp` or `/http`.
fn allow_host(b: &mut Builder, s: &str, field: &str) {
    let (hp, proto) = match s.rsplit_once('/') {
        Some((hp, p)) => (hp, p),
        None => (s, "http"),
    };
    let id = format!("net.{}", param_name(hp).to_ascii_lowercase());
    let refine = match proto {
        "tcp" | "http" => "",
        "udp" => "?proto=udp",
        other => {
            b.todo(
                None,
                &id,
                &format!("allowHosts entry `{s}` names the protocol `/{other}`, which capgate does not know (tcp, udp, http); grant what the server needs"),
                &[],
            );
            return;
        }
    };
    let ok_port = hp
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    if !ok_port {
        let port = if proto == "udp" { "<port>" } else { "443" };
        b.todo(
            None,
            &id,
            &format!("allowHosts entry `{s}` names no port; grant the ports the server uses"),
            &[format!("net:connect:{hp}:{port}{refine}")],
        );
        return;
    }
    let why = match proto {
        "tcp" => "allowHosts (/tcp): the gateway runs a TCP proxy; capgate's egress proxy carries TCP through CONNECT",
        "udp" => "allowHosts (/udp): a UDP destination of the catalog's egress allowlist",
        _ => "allowHosts: the catalog's egress allowlist",
    };
    b.grant(None, field, &format!("net:connect:{hp}{refine}"), why);
}

/// `host:container[:ro|rw]`, or a `{{...}}` template for user-chosen paths.
fn volume(b: &mut Builder, s: &str, field: &str) {
    if s.contains("{{") {
        let base = s
            .split("{{")
            .nth(1)
            .and_then(|r| r.split("}}").next())
            .unwrap_or("volume");
        let prop = base.split('|').next().unwrap_or(base).trim();
        let p = b.param(
            prop,
            &format!("the host path the catalog's {{{{{prop}}}}} names (mounted at the same path)"),
        );
        b.lossy(
            field,
            s,
            "a template the gateway expands into one or more mounts; capgate imports one path, bound at the same path",
        );
        b.todo(
            None,
            &format!("fs.{}", param_name(prop).to_ascii_lowercase()),
            &format!("the user chooses {p}; the gateway binds it read-only unless it is allowlisted as writable: decide read or read-write"),
            &[format!("fs:read:{p}/**"), format!("fs:read,write,create,delete:{p}/**")],
        );
        return;
    }
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h] => (*h, *h, None),
        [h, c] => (*h, *c, None),
        [h, c, m] => (*h, *c, Some(*m)),
        _ => {
            b.lossy(field, s, "not host:container[:mode]; left out");
            return;
        }
    };
    if host.starts_with('$') || host.starts_with('~') {
        b.todo(
            None,
            &format!("fs.volume.{}", param_name(container).to_ascii_lowercase()),
            &format!("the volume `{s}` mounts a host path named through the environment ({host}), which import does not read: decide which path (if any) to grant, and at which path the server finds it"),
            &[],
        );
        return;
    }
    if !host.starts_with('/') {
        b.lossy(field, s, "a named volume; capgate binds host paths only: left out");
        return;
    }
    if host != container {
        b.todo(
            None,
            &format!("fs.volume.{}", param_name(container).to_ascii_lowercase()),
            &format!("the volume `{s}` mounts {host} at {container}; capgate binds a path at the same path: decide how the server should find it"),
            &[format!("fs:read:{host}/**")],
        );
        return;
    }
    match mode {
        Some("rw") => b.grant(
            None,
            field,
            &format!("fs:read,write,create,delete:{host}"),
            "a read-write volume of the catalog",
        ),
        Some("ro") => b.grant(
            None,
            field,
            &format!("fs:read:{host}"),
            "a read-only volume of the catalog",
        ),
        None => {
            b.note(&format!(
                "{s}: no mode given; Docker's default is read-write, the gateway binds read-only: imported read-only"
            ));
            b.grant(
                None,
                field,
                &format!("fs:read:{host}"),
                "a volume of the catalog (the gateway binds it read-only)",
            );
        }
        Some(m) => b.lossy(field, m, "an unknown volume mode; left out"),
    }
}

/// `{{server.prop}}` and `{{prop|filter}}` templates → `${PARAM}`.
fn templated(b: &mut Builder, v: &str, field: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        out.push_str(&rest[..open]);
        let inner = rest[open + 2..open + close].trim();
        let prop = inner.split('|').next().unwrap_or(inner).trim();
        if inner.contains('|') {
            b.lossy(
                field,
                inner,
                "template filters are not applied; the param's value is used as given",
            );
        }
        out.push_str(&b.param(prop, &format!("the catalog's {{{{{prop}}}}}")));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}
