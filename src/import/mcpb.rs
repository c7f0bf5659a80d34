//! MCP Bundle (MCPB, formerly DXT) `manifest.json`, spec 0.1–0.3.
//!
//! `server.mcp_config` is the launch line (a `linux` platform override
//! applies); `${__dirname}` becomes the param BUNDLE_DIR with a read-only
//! grant; `${user_config.X}` becomes a param, except sensitive values, which
//! become `env:inject` (and are never put in argv); `directory`/`file`
//! user_config entries get a TODO for the access mode. Bundles state no
//! network, so that is a TODO.

use super::source::{flag, opt_text, req_text, Node};
use super::{net_unstated, Builder, Format, Imported};
use crate::diag::Diagnostic;
use std::collections::BTreeMap;

struct UserConfig {
    ty: String,
    sensitive: bool,
    multiple: bool,
    title: String,
}

pub fn import(root: Node<'_>) -> Result<Imported, Diagnostic> {
    let name = req_text(&root, "name")?;
    let version = req_text(&root, "version")?;
    let mut b = Builder::new(Format::Mcpb, &name, &version);
    for k in root.keys() {
        match k.as_str() {
            "name" | "version" | "server" | "user_config" | "tools" | "compatibility" => {}
            "prompts" => b.ignored("prompts"),
            other => b.ignored(other),
        }
    }
    let mut ucs = BTreeMap::new();
    if let Some(uc) = root.get("user_config")? {
        for (key, v) in uc.members()? {
            let ty = req_text(&v, "type")?;
            let title = opt_text(&v, "title")?.unwrap_or_else(|| key.clone());
            let u = UserConfig {
                ty,
                sensitive: flag(&v, "sensitive")?,
                multiple: flag(&v, "multiple")?,
                title,
            };
            if let Some(d) = v.get("default")? {
                b.note(&format!(
                    "user_config.{key} defaults to {} in the bundle; capgate params have no defaults",
                    d.show()
                ));
            }
            ucs.insert(key, u);
        }
    }
    let server = root.get("server")?.ok_or_else(|| {
        root.error("`server` is missing")
            .hint("an MCPB manifest needs server.type and server.mcp_config")
    })?;
    let ty = req_text(&server, "type")?;
    let cfg = server
        .get("mcp_config")?
        .ok_or_else(|| server.error("`mcp_config` is missing"))?;
    // A platform override replaces the fields it names (a shallow merge, as
    // the MCPB client applies it).
    let mut linux = None;
    if let Some(po) = cfg.get("platform_overrides")? {
        for (plat, v) in po.members()? {
            if plat == "linux" {
                b.note("the linux platform override of mcp_config is used (its fields replace the base fields)");
                linux = Some(v);
            } else {
                b.lossy(
                    v.path(),
                    &plat,
                    "an override for another platform; capgate's targets are Linux",
                );
            }
        }
    }
    if ty == "uv" {
        b.lossy(
            "server.type",
            "uv",
            "uv resolves and downloads dependencies at launch; install them first and run the environment's program",
        );
    }
    let mut argv = Vec::new();
    let field = |k: &str| -> Result<Option<Node<'_>>, Diagnostic> {
        if let Some(l) = &linux {
            if let Some(v) = l.get(k)? {
                return Ok(Some(v));
            }
        }
        cfg.get(k)
    };
    let command = match field("command")? {
        Some(c) => c.text()?,
        None => return Err(cfg.error("`command` is missing")),
    };
    argv.extend(subst_arg(&mut b, &command, "server.mcp_config.command", &ucs));
    if let Some(args) = field("args")? {
        for a in args.items()? {
            let t = a.text()?;
            match subst_arg(&mut b, &t, a.path(), &ucs) {
                Some(v) => argv.push(v),
                // `--token ${user_config.token}`: the flag goes with its value.
                None if argv.len() > 1 && argv.last().is_some_and(|p| p.starts_with('-') && !p.contains('=')) => {
                    let flag = argv.pop().unwrap_or_default();
                    b.note(&format!(
                        "{}: the flag `{flag}` before it was left out with its value",
                        a.path()
                    ));
                }
                None => {}
            }
        }
    }
    if argv.first().is_some_and(|p| p.starts_with('-')) || argv.is_empty() {
        b.lossy(
            "server.mcp_config.command",
            &command,
            "not a usable program; no command was made",
        );
    } else {
        b.command(argv);
    }
    if let Some(env) = field("env")? {
        for (k, v) in env.members()? {
            let t = v.text()?;
            env_entry(&mut b, &k, &t, v.path(), &ucs);
        }
    }
    for (key, u) in &ucs {
        if u.ty == "directory" || u.ty == "file" {
            // Declared even when no arg names it, so the suggested grants compile.
            let p = b.param(
                &format!("user_config.{key}"),
                &format!("user_config.{key} ({}): {}", u.ty, u.title),
            );
            if u.multiple {
                b.lossy(
                    &format!("user_config.{key}.multiple"),
                    "true",
                    "capgate imports one path per entry; grant further paths by hand",
                );
            }
            let suffix = if u.ty == "directory" { "/**" } else { "" };
            b.todo(
                None,
                &format!("fs.user_config.{key}"),
                &format!("the user chooses the {} `{}` ({p}); the bundle does not say whether the server reads or writes it: grant what it needs", u.ty, u.title),
                &[format!("fs:read:{p}{suffix}"), format!("fs:read,write,create,delete:{p}{suffix}")],
            );
        }
    }
    if let Some(tools) = root.get("tools")? {
        for t in tools.items()? {
            let n = req_text(&t, "name")?;
            let d = opt_text(&t, "description")?;
            b.tool(t.path(), &n, d.as_deref());
        }
    }
    if flag(&root, "tools_generated")? {
        b.note("tools_generated: the bundle's server lists more tools at run time than the manifest names");
    }
    if let Some(c) = root.get("compatibility")? {
        if let Some(p) = c.get("platforms")? {
            let plats: Vec<String> = p.items()?.iter().map(|x| x.show()).collect();
            if !plats.iter().any(|x| x == "linux") {
                b.lossy(
                    p.path(),
                    &plats.join(","),
                    "the bundle does not list linux; capgate's sandboxes are Linux-only",
                );
            }
        }
        for k in c.keys() {
            if k != "platforms" {
                b.ignored(&format!("compatibility.{k}"));
            }
        }
    }
    net_unstated(&mut b, "The bundle");
    Ok(b.finish())
}

/// One argv element with MCPB substitutions; a sensitive value is never put
/// in argv (returns nothing and reports it).
fn subst_arg(b: &mut Builder, s: &str, field: &str, ucs: &BTreeMap<String, UserConfig>) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find("${") {
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&rest[..open]);
        let var = &rest[open + 2..open + close];
        match var {
            "__dirname" => {
                let p = b.param(
                    "BUNDLE_DIR",
                    "the directory the bundle was unpacked into (${__dirname})",
                );
                b.grant(
                    None,
                    field,
                    &format!("fs:read:{p}/**"),
                    "the bundle's own files (${__dirname}), read-only",
                );
                out.push_str(&p);
            }
            "/" => out.push('/'),
            "HOME" | "DESKTOP" | "DOCUMENTS" | "DOWNLOADS" => {
                let p = b.param(&format!("{var}_DIR"), &format!("the user's {} directory (${{{var}}} in the bundle); capgate reads nothing from the environment", var.to_ascii_lowercase()));
                out.push_str(&p);
            }
            v if v.starts_with("user_config.") => {
                let key = &v["user_config.".len()..];
                match ucs.get(key) {
                    Some(u) if u.sensitive => {
                        b.lossy(field, s, "a sensitive user_config value on the command line: capgate never puts secrets in argv; left out (make the server read it from an env:inject variable)");
                        return None;
                    }
                    Some(u) => {
                        let p = b.param(
                            &format!("user_config.{key}"),
                            &format!("user_config.{key} ({}): {}", u.ty, u.title),
                        );
                        out.push_str(&p);
                    }
                    None => {
                        b.lossy(
                            field,
                            s,
                            "names a user_config entry the bundle does not declare; left out",
                        );
                        return None;
                    }
                }
            }
            _ => {
                b.lossy(field, s, "an unknown substitution; left out");
                return None;
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn env_entry(b: &mut Builder, name: &str, value: &str, field: &str, ucs: &BTreeMap<String, UserConfig>) {
    let secret = ucs
        .iter()
        .find(|(k, u)| u.sensitive && value.contains(&format!("${{user_config.{k}}}")));
    if let Some((key, _)) = secret {
        b.grant(
            None,
            field,
            &format!("env:inject:{name}"),
            &format!(
                "a secret (sensitive user_config.{key}); its value comes from the launcher's environment as {name}"
            ),
        );
        if value != format!("${{user_config.{key}}}") {
            b.lossy(
                field,
                value,
                &format!("the bundle builds {name} around a secret; capgate passes the whole value from the launcher's environment"),
            );
        }
        return;
    }
    if let Some(v) = subst_arg(b, value, field, ucs) {
        b.grant(None, field, &format!("env:set:{name}={v}"), "a value the bundle sets");
    }
}
