//! MCP Registry `server.json` (schema 2025-09-16 and later, camelCase).
//!
//! The registry describes how to install and start a server, not what it
//! may touch: packages give the launch line, `isSecret` variables become
//! `env:inject`, plain variables `env:read` (or `env:set` for a fixed
//! value), `filepath` arguments become params with a TODO for the access
//! mode. Network is never stated, so it is always a TODO.

use super::source::{flag, opt_text, req_text, Node};
use super::{net_unstated, param_name, Builder, Format, Imported};
use crate::diag::Diagnostic;

pub fn import(root: Node<'_>) -> Result<Imported, Diagnostic> {
    let name = req_text(&root, "name")?;
    let version = req_text(&root, "version")?;
    let mut b = Builder::new(Format::McpRegistry, &name, &version);
    for k in root.keys() {
        match k.as_str() {
            "name" | "version" | "packages" | "remotes" => {}
            "_meta" => {}
            other => b.ignored(other),
        }
    }
    let packages = match root.get("packages")? {
        Some(p) => p.items()?,
        None => Vec::new(),
    };
    if let Some(remotes) = root.get("remotes")? {
        for r in remotes.items()? {
            let url = opt_text(&r, "url")?.unwrap_or_default();
            b.lossy(
                r.path(),
                &url,
                "a remote endpoint runs elsewhere: there is nothing local to sandbox",
            );
        }
    }
    let Some(pkg) = packages.first() else {
        return Err(root
            .error("the server has no `packages`: nothing runs locally, so there is nothing to sandbox")
            .hint("capgate sandboxes local servers; a remote-only entry needs none"));
    };
    for other in packages.iter().skip(1) {
        let id = opt_text(other, "identifier")?.unwrap_or_default();
        b.lossy(
            other.path(),
            &id,
            "only the first package is imported; import another by editing the file to list it first",
        );
    }
    package(&mut b, pkg)?;
    match toolhive_permissions(&root)? {
        Some(entry) => {
            b.note(&format!(
                "the publisher-provided ToolHive entry ({}) gives the filesystem and network grants and the tools",
                entry.path()
            ));
            if let Some(perm) = entry.get("permissions")? {
                super::toolhive::profile(&mut b, &perm)?;
            }
            if let Some(tools) = entry.get("tools")? {
                for t in tools.items()? {
                    let n = t.text()?;
                    b.tool(t.path(), &n, None);
                }
            }
        }
        None => {
            if root.get("_meta")?.is_some() {
                b.lossy(
                    "_meta",
                    "publisher-provided metadata",
                    "holds no ToolHive permissions; not read",
                );
            }
            net_unstated(&mut b, "The MCP Registry entry");
        }
    }
    Ok(b.finish())
}

fn package(b: &mut Builder, pkg: &Node<'_>) -> Result<(), Diagnostic> {
    let kind = req_text(pkg, "registryType")?;
    let id = req_text(pkg, "identifier")?;
    let version = opt_text(pkg, "version")?;
    let at = |s: &str| format!("{}.{s}", pkg.path());
    let spec = match &version {
        Some(v) => format!("{id}@{v}"),
        None => id.clone(),
    };
    let mut argv: Vec<String> = Vec::new();
    match kind.as_str() {
        "npm" => {
            let nm = b.param(
                "NODE_MODULES",
                &format!("the node_modules directory {spec} was installed into (npm install --prefix <prefix> {spec} gives <prefix>/node_modules)"),
            );
            let bin = b.param(
                "SERVER_BIN",
                &format!("the program that starts {spec} once installed (its bin: <prefix>/node_modules/.bin/<name>)"),
            );
            b.grant(
                None,
                &at("identifier"),
                &format!("fs:read:{nm}/**"),
                &format!("the npm package {spec} and its dependencies, read-only"),
            );
            argv.push(bin);
        }
        "pypi" => {
            let venv = b.param(
                "VENV",
                &format!(
                    "the virtualenv {spec} was installed into (python3 -m venv <dir> && <dir>/bin/pip install {spec})"
                ),
            );
            let bin = b.param(
                "SERVER_BIN",
                &format!("the program that starts {spec} once installed (<venv>/bin/<script>)"),
            );
            b.grant(
                None,
                &at("identifier"),
                &format!("fs:read:{venv}/**"),
                &format!("the PyPI package {spec} and its dependencies, read-only"),
            );
            argv.push(bin);
        }
        "oci" => {
            let image = match &version {
                Some(v) if !id.contains('@') && !id.rsplit('/').next().unwrap_or("").contains(':') => {
                    format!("{id}:{v}")
                }
                _ => id.clone(),
            };
            b.image(&at("identifier"), &image);
            if !image.contains("@sha256:") {
                b.note(&format!("the image `{image}` is not pinned by digest; pin it (image@sha256:...) so the key names exactly what runs"));
            }
        }
        other => {
            b.lossy(
                &at("registryType"),
                other,
                "capgate imports npm, pypi and oci packages; no launch line was made",
            );
        }
    }
    if let Some(h) = opt_text(pkg, "runtimeHint")? {
        let why = match h.as_str() {
            "npx" | "uvx" | "dnx" => "downloads the package at every launch; capgate runs an installed copy (no registry access from the sandbox)",
            "docker" => "capgate's docker target makes the container flags itself",
            _ => "not used",
        };
        b.lossy(&at("runtimeHint"), &h, why);
    }
    if let Some(sha) = opt_text(pkg, "fileSha256")? {
        b.lossy(
            &at("fileSha256"),
            &sha,
            "capgate does not verify downloads; check the file when installing it",
        );
    }
    if let Some(ra) = pkg.get("runtimeArguments")? {
        for a in ra.items()? {
            b.lossy(a.path(), &a.show(), "arguments for the runtime (npx, uvx, docker) are not imported: they could widen the sandbox (e.g. docker --network host)");
        }
    }
    if let Some(t) = pkg.get("transport")? {
        let ty = req_text(&t, "type")?;
        if ty != "stdio" {
            let url = opt_text(&t, "url")?.unwrap_or_default();
            b.todo(
                None,
                "net.listen",
                &format!("the package serves MCP over {ty} ({url}); the sandbox has no network: grant the listening port (net:listen:127.0.0.1:<port>) or run it over stdio"),
                &["net:listen:127.0.0.1:<port>".to_string()],
            );
        }
    }
    // Arguments go after a program capgate starts (npm, pypi). An oci
    // image's arguments go to its entrypoint, which capgate's `command` (a
    // whole argv bwrap runs as the program) cannot express.
    let runs_program = !argv.is_empty();
    if let Some(pa) = pkg.get("packageArguments")? {
        for a in pa.items()? {
            if runs_program {
                argument(b, &a, &mut argv)?;
            } else {
                let said = [
                    opt_text(&a, "name")?,
                    opt_text(&a, "value")?.or(opt_text(&a, "valueHint")?),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
                let why = if kind == "oci" {
                    "an argument for the image's entrypoint; capgate's command is a whole argv (bwrap runs it as the program): pass it with `capgate exec ... -- <args>`"
                } else {
                    "without a program to run it is not imported; pass it with `capgate exec ... -- <args>`"
                };
                b.lossy(a.path(), if said.is_empty() { "argument" } else { &said }, why);
            }
        }
    }
    if let Some(ev) = pkg.get("environmentVariables")? {
        for e in ev.items()? {
            env_var(b, &e)?;
        }
    }
    if runs_program {
        b.command(argv);
    }
    Ok(())
}

/// The names of `variables.{x}` marked `isSecret` on an argument or an
/// environment variable.
fn secret_vars(n: &Node<'_>) -> Result<Vec<String>, Diagnostic> {
    let mut out = Vec::new();
    if let Some(vars) = n.get("variables")? {
        for (k, v) in vars.members()? {
            if v.is_object() && flag(&v, "isSecret")? {
                out.push(k);
            }
        }
    }
    Ok(out)
}

/// The `{var}` names a value references, as `templated` reads them.
fn refs(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        out.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    out
}

/// The first secret variable `v` references, if any.
fn secret_ref<'s>(v: &'s str, secrets: &[String]) -> Option<&'s str> {
    refs(v).into_iter().find(|r| secrets.iter().any(|s| s == r))
}

/// A value with `{var}` references → text with `${PARAM}` placeholders.
fn templated(b: &mut Builder, v: &str, field: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&rest[..open]);
        let var = &rest[open + 1..open + close];
        out.push_str(&b.param(var, &format!("the value of {{{var}}} in {field}")));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn argument(b: &mut Builder, a: &Node<'_>, argv: &mut Vec<String>) -> Result<(), Diagnostic> {
    let ty = opt_text(a, "type")?.unwrap_or_else(|| "positional".to_string());
    let name = opt_text(a, "name")?;
    let value = opt_text(a, "value")?;
    let hint = opt_text(a, "valueHint")?;
    let format = opt_text(a, "format")?.unwrap_or_default();
    if flag(a, "isSecret")? {
        b.lossy(a.path(), name.as_deref().or(hint.as_deref()).unwrap_or("argument"), "a secret passed on the command line: capgate never puts secrets in argv; left out (make the server read it from an env:inject variable)");
        return Ok(());
    }
    let secrets = secret_vars(a)?;
    if let Some(s) = value.as_deref().and_then(|v| secret_ref(v, &secrets)) {
        let said = match &name {
            Some(n) => format!("{n} {}", value.as_deref().unwrap_or_default()),
            None => value.clone().unwrap_or_default(),
        };
        b.lossy(
            a.path(),
            &said,
            &format!("the value uses the secret variable {{{s}}}: capgate never puts secrets in argv; the argument is left out (make the server read it from an env:inject variable)"),
        );
        return Ok(());
    }
    if flag(a, "isRepeated")? {
        b.lossy(
            a.path(),
            "isRepeated",
            "capgate's command is fixed: one value is passed; add more arguments by hand",
        );
    }
    let label = name.clone().or(hint.clone()).unwrap_or_else(|| "arg".to_string());
    let val = match &value {
        Some(v) => Some(templated(b, v, a.path())),
        None => {
            let d = opt_text(a, "description")?.unwrap_or_default();
            Some(b.param(&format!("ARG_{}", param_name(&label)), &format!("{label}: {d}")))
        }
    };
    if ty == "named" {
        if let Some(n) = &name {
            argv.push(n.clone());
        }
    }
    if let Some(v) = val {
        if format == "filepath" {
            let p = v.clone();
            b.todo(
                None,
                &format!("fs.{}", param_name(&label).to_ascii_lowercase()),
                &format!("the argument {label} is a path the user chooses; the registry does not say whether the server reads or writes it: grant what it needs"),
                &[format!("fs:read:{p}/**"), format!("fs:read,write,create,delete:{p}/**")],
            );
        }
        argv.push(v);
    }
    Ok(())
}

fn env_var(b: &mut Builder, e: &Node<'_>) -> Result<(), Diagnostic> {
    let name = req_text(e, "name")?;
    let value = opt_text(e, "value")?;
    let secrets = secret_vars(e)?;
    let secret_in_value = value.as_deref().and_then(|v| secret_ref(v, &secrets));
    if flag(e, "isSecret")? || secret_in_value.is_some() {
        let why = match secret_in_value {
            Some(s) if !flag(e, "isSecret")? => format!(
                "its value uses the secret variable {{{s}}}; the whole value comes from the launcher's environment"
            ),
            _ => "a secret the registry marks isSecret; its value comes from the launcher's environment".to_string(),
        };
        b.grant(None, e.path(), &format!("env:inject:{name}"), &why);
        if let Some(v) = &value {
            b.lossy(
                &format!("{}.value", e.path()),
                v,
                &format!("the value template `{v}` is not imported: supply the whole value at launch (a secret is never written into the manifest, argv or files)"),
            );
        }
    } else if let Some(v) = value {
        let v = templated(b, &v, e.path());
        b.grant(
            None,
            e.path(),
            &format!("env:set:{name}={v}"),
            "a value the registry states",
        );
    } else {
        b.grant(
            None,
            e.path(),
            &format!("env:read:{name}"),
            "a setting the registry lists; its value comes from the launcher's environment",
        );
    }
    if let Some(d) = opt_text(e, "default")? {
        b.lossy(
            &format!("{}.default", e.path()),
            &d,
            "capgate does not supply defaults: set the variable in the launcher's environment",
        );
    }
    if flag(e, "isRequired")? && !flag(e, "isSecret")? {
        b.note(&format!(
            "{name} is required by the server: capgate exec passes it only when it is set in its environment"
        ));
    }
    Ok(())
}

/// The ToolHive entry (with a permission profile) stored in the registry entry's
/// `_meta["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"][<image>]`.
fn toolhive_permissions<'a>(root: &Node<'a>) -> Result<Option<Node<'a>>, Diagnostic> {
    let Some(meta) = root.get("_meta")? else {
        return Ok(None);
    };
    let Some(pp) = meta.get("io.modelcontextprotocol.registry/publisher-provided")? else {
        return Ok(None);
    };
    let Some(st) = pp.get("io.github.stacklok")? else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for (_, entry) in st.members()? {
        if entry.get("permissions")?.is_some() {
            found.push(entry);
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(st
            .error(format!("{n} ToolHive entries carry permissions; capgate imports one"))
            .hint("keep the entry of the package you import")),
    }
}
