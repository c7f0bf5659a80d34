//! Stage 2: capability strings → typed [`Capability`] values.
//!
//! `<kind>:<actions>:<scope>[?key=value&...]`: kind and actions are split at
//! the first two colons, the scope is the rest up to the first `?` (an
//! `assert` takes no refinements, so its text may hold anything printable).
//! Every kind validates its own scope and refinement keys (one file each).
//! [`Capability`]'s `Display` is the canonical string used for the key and
//! in every artifact.

mod assert;
mod clock;
mod env;
mod exec;
mod fs;
mod ipc;
mod limit;
pub mod net;
pub mod path;

pub use assert::Assertion;
pub use clock::ClockSource;
pub use env::{is_sensitive_name as is_sensitive_env_name, EnvAction, EnvGrant};
pub use exec::ExecGrant;
pub use fs::{FsAction, FsGrant, Glob};
pub use ipc::{IpcEndpoint, IpcGrant};
pub use limit::{Limit, LAUNCHER_DEFAULT_NOFILE};
pub use net::{Host, NetAction, NetGrant, PortRange, Proto};

use crate::diag::{Code, Diagnostic, Span};
use crate::manifest::{is_forbidden_char, Grammar};
use std::collections::BTreeMap;
use std::fmt;

/// A parsed, validated capability.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `fs:…`
    Fs(FsGrant),
    /// `net:…`
    Net(NetGrant),
    /// `env:…`
    Env(EnvGrant),
    /// `exec:…`
    Exec(ExecGrant),
    /// `ipc:…`
    Ipc(IpcGrant),
    /// `clock:…`
    Clock(ClockSource),
    /// `limit:…`
    Limit(Limit),
    /// `assert:…`
    Assert(Assertion),
}

/// The kinds, in canonical order.
pub const KINDS: &[&str] = &["fs", "net", "env", "exec", "ipc", "clock", "limit", "assert"];

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Fs(g) => g.fmt(f),
            Capability::Net(g) => g.fmt(f),
            Capability::Env(g) => g.fmt(f),
            Capability::Exec(g) => g.fmt(f),
            Capability::Ipc(g) => g.fmt(f),
            Capability::Clock(c) => write!(f, "clock:read:{}", c.as_str()),
            Capability::Limit(l) => l.fmt(f),
            Capability::Assert(a) => a.fmt(f),
        }
    }
}

/// Where a capability's text came from, to point diagnostics at it.
pub struct Src<'a> {
    /// The capability text (after params were substituted).
    pub text: &'a str,
    /// Maps a byte range of `text` to a span in the manifest.
    pub span_of: &'a dyn Fn(usize, usize) -> Span,
}

impl Src<'_> {
    fn span(&self, from: usize, to: usize) -> Span {
        (self.span_of)(from, to)
    }
}

/// The pieces of a capability string, with byte offsets into it.
pub(crate) struct Parts<'a> {
    pub kind: &'a str,
    pub actions: &'a str,
    pub actions_at: usize,
    pub scope: &'a str,
    pub scope_at: usize,
    pub refinements: Refinements,
    pub src: &'a Src<'a>,
}

/// Parsed `?key=value&…` pairs with their offsets.
#[derive(Default)]
pub(crate) struct Refinements {
    pub pairs: BTreeMap<String, (String, usize, usize)>,
}

impl Parts<'_> {
    pub fn span_scope(&self) -> Span {
        self.src.span(self.scope_at, self.scope_at + self.scope.len())
    }
    pub fn span_in_scope(&self, from: usize, to: usize) -> Span {
        self.src.span(self.scope_at + from, self.scope_at + to)
    }
    pub fn span_actions(&self) -> Span {
        self.src.span(self.actions_at, self.actions_at + self.actions.len())
    }

    /// Split the comma list of actions and check each against `allowed`.
    pub fn actions<'s>(&self, allowed: &[&'s str]) -> Result<Vec<&'s str>, Diagnostic> {
        let mut out = Vec::new();
        let mut at = 0;
        for a in self.actions.split(',') {
            let span = self
                .src
                .span(self.actions_at + at, self.actions_at + at + a.len().max(1));
            at += a.len() + 1;
            if a.is_empty() {
                return Err(
                    Diagnostic::error(Code::BadAction, format!("empty action in `{}`", self.kind))
                        .at(span)
                        .hint(format!("`{}` actions: {}", self.kind, allowed.join(", "))),
                );
            }
            match allowed.iter().find(|x| **x == a) {
                Some(x) => {
                    if !out.contains(x) {
                        out.push(*x)
                    }
                }
                None => {
                    let mut d = Diagnostic::error(
                        Code::BadAction,
                        format!("`{}` is not an action of `{}`", crate::json::printable(a), self.kind),
                    )
                    .at(span);
                    d = match crate::manifest::closest(a, allowed) {
                        Some(best) => d.hint(format!(
                            "did you mean `{best}`? `{}` actions: {}",
                            self.kind,
                            allowed.join(", ")
                        )),
                        None => d.hint(format!("`{}` actions: {}", self.kind, allowed.join(", "))),
                    };
                    return Err(d);
                }
            }
        }
        Ok(out)
    }

    /// Take the refinement keys this kind knows; any left over is an error.
    pub fn refinement_keys(&self, known: &[&str]) -> Result<(), Diagnostic> {
        for (k, (_, from, to)) in &self.refinements.pairs {
            if !known.contains(&k.as_str()) {
                let mut d = Diagnostic::error(
                    Code::BadRefinement,
                    format!("`{}` is not a refinement of `{}`", crate::json::printable(k), self.kind),
                )
                .at(self.src.span(*from, *to));
                d = if k == "nestedSandbox" {
                    d.hint("nestedSandbox is only allowed on exec:spawn grants")
                } else if known.is_empty() {
                    d.hint(format!("`{}` takes no refinements", self.kind))
                } else {
                    d.hint(format!("`{}` refinements: {}", self.kind, known.join(", ")))
                };
                return Err(d);
            }
        }
        Ok(())
    }

    /// A refinement value restricted to `allowed` values; `None` when absent.
    pub fn refinement(&self, key: &str, allowed: &[&str]) -> Result<Option<String>, Diagnostic> {
        match self.refinements.pairs.get(key) {
            None => Ok(None),
            Some((v, from, to)) if allowed.contains(&v.as_str()) => {
                let _ = (from, to);
                Ok(Some(v.clone()))
            }
            Some((v, from, to)) => Err(Diagnostic::error(
                Code::BadRefinement,
                format!("`{key}={}` is not valid", crate::json::printable(v)),
            )
            .at(self.src.span(*from, *to))
            .hint(format!("`{key}` takes: {}", allowed.join(", ")))),
        }
    }

    /// `?sensitive=allow`.
    pub fn sensitive_allowed(&self) -> Result<bool, Diagnostic> {
        Ok(self.refinement("sensitive", &["allow"])?.is_some())
    }

    /// `?optional=true|false`.
    pub fn optional(&self) -> Result<bool, Diagnostic> {
        Ok(self.refinement("optional", &["true", "false"])?.as_deref() == Some("true"))
    }
}

/// Grammar 0.0 let any scope be quoted so colons survived its splitter
/// (`ipc:connect:"unix:/run/x.sock"`, `net:connect:"::1":443`). Remove the
/// quotes of such a scope, bracketing a quoted IPv6 host; assertion texts
/// keep theirs (the assert parser handles them). Everything is validated
/// afterwards like unquoted text.
pub fn dequote_compat(text: &str) -> String {
    if !text.contains('"') || text.starts_with("assert:") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let Some(close) = rest[open + 1..].find('"') else { break };
        let inner = &rest[open + 1..open + 1 + close];
        out.push_str(&rest[..open]);
        if text.starts_with("net:") && inner.parse::<std::net::Ipv6Addr>().is_ok() {
            out.push('[');
            out.push_str(inner);
            out.push(']');
        } else {
            out.push_str(inner);
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Parse one capability string.
pub fn parse(src: &Src<'_>, grammar: Grammar) -> Result<Capability, Diagnostic> {
    let text = src.text;
    let kind_end = text.find(':');
    let kind = &text[..kind_end.unwrap_or(text.len())];
    let is_assert = kind == "assert";

    // Characters: never Cc/Cf; whitespace only inside an assert's text.
    for (i, c) in text.char_indices() {
        let bad = is_forbidden_char(c) || (c.is_whitespace() && !is_assert);
        if bad {
            let what = if c.is_whitespace() && !c.is_control() {
                "whitespace"
            } else {
                "the character"
            };
            return Err(Diagnostic::error(
                Code::ForbiddenCharacter,
                format!("capability contains {what} U+{:04X}", c as u32),
            )
            .at(src.span(i, i + c.len_utf8()))
            .hint(if c.is_whitespace() && !c.is_control() {
                "capabilities have no spaces: write `fs:read,write:/data/**`"
            } else {
                "control and invisible format characters (bidi overrides, zero-width spaces) are never allowed"
            }));
        }
    }

    let Some(kind_end) = kind_end else {
        return Err(malformed(src, "capability has no `:`"));
    };
    if kind == crate::import::TODO_KIND {
        return Err(crate::import::todo_diagnostic(src.text, src.span(0, text.len())));
    }
    if !KINDS.contains(&kind) {
        let mut d = Diagnostic::error(
            Code::UnknownKind,
            format!("unknown capability kind `{}`", crate::json::printable(kind)),
        )
        .at(src.span(0, kind_end.max(1)));
        d = match crate::manifest::closest(kind, KINDS) {
            Some(best) => d.hint(format!("did you mean `{best}`?")),
            None => d.hint(format!("kinds: {}", KINDS.join(", "))),
        };
        return Err(d);
    }
    let after_kind = kind_end + 1;

    // Grammar 0.0 shapes with no action segment.
    if kind == "clock" && !text[after_kind..].contains(':') {
        return clock::parse_compat(src, after_kind);
    }
    if is_assert {
        return assert::parse(src, after_kind, grammar);
    }

    let Some(rel) = text[after_kind..].find(':') else {
        return Err(malformed(
            src,
            &format!("`{kind}` capability needs `{kind}:<actions>:<scope>`"),
        ));
    };
    let actions_at = after_kind;
    let actions = &text[after_kind..after_kind + rel];
    let scope_at = after_kind + rel + 1;
    let (scope, refinements) = match text[scope_at..].find('?') {
        None => (&text[scope_at..], Refinements::default()),
        Some(q) => {
            let scope = &text[scope_at..scope_at + q];
            (scope, parse_refinements(src, scope_at + q + 1)?)
        }
    };
    if scope.is_empty() {
        return Err(Diagnostic::error(
            Code::MalformedCapability,
            format!("`{kind}` capability has an empty scope"),
        )
        .at(src.span(scope_at.min(text.len()), scope_at + 1))
        .hint(scope_hint(kind)));
    }
    let parts = Parts {
        kind,
        actions,
        actions_at,
        scope,
        scope_at,
        refinements,
        src,
    };
    match kind {
        "fs" => fs::parse(&parts).map(Capability::Fs),
        "net" => net::parse(&parts, grammar).map(Capability::Net),
        "env" => env::parse(&parts).map(Capability::Env),
        "exec" => exec::parse(&parts, grammar).map(Capability::Exec),
        "ipc" => ipc::parse(&parts).map(Capability::Ipc),
        "clock" => clock::parse(&parts).map(Capability::Clock),
        "limit" => limit::parse(&parts).map(Capability::Limit),
        _ => unreachable!("kind checked above"),
    }
}

fn malformed(src: &Src<'_>, msg: &str) -> Diagnostic {
    Diagnostic::error(Code::MalformedCapability, msg.to_string())
        .at(src.span(0, src.text.len()))
        .hint("the form is <kind>:<actions>:<scope>, e.g. fs:read:/data/** or net:connect:api.github.com:443")
}

fn scope_hint(kind: &str) -> &'static str {
    match kind {
        "fs" => "name an absolute path: fs:read:/data/**",
        "net" => "name host:port: net:connect:api.github.com:443",
        "env" => "name a variable: env:inject:GITHUB_TOKEN",
        "exec" => "name a program: exec:spawn:git",
        "ipc" => "name an endpoint: x11, wayland, dbus:session, dbus:system, unix:/path",
        "clock" => "name a source: clock:read:tzdata",
        "limit" => "name a limit: limit:set:memory=512MiB",
        _ => "see docs/manifest.md",
    }
}

fn parse_refinements(src: &Src<'_>, at: usize) -> Result<Refinements, Diagnostic> {
    let text = &src.text[at..];
    let mut out = Refinements::default();
    let mut off = at;
    for pair in text.split('&') {
        let span = src.span(off, off + pair.len().max(1));
        let Some(eq) = pair.find('=') else {
            return Err(Diagnostic::error(
                Code::BadRefinement,
                format!("refinement `{}` has no `=value`", crate::json::printable(pair)),
            )
            .at(span)
            .hint("refinements are ?key=value&key=value; a `?` cannot appear in a path"));
        };
        let (k, v) = (&pair[..eq], &pair[eq + 1..]);
        if k.is_empty() || v.is_empty() {
            return Err(
                Diagnostic::error(Code::BadRefinement, "refinement with an empty key or value")
                    .at(span)
                    .hint("refinements are ?key=value&key=value"),
            );
        }
        if out.pairs.contains_key(k) {
            return Err(Diagnostic::error(
                Code::BadRefinement,
                format!("refinement `{}` is given twice", crate::json::printable(k)),
            )
            .at(span));
        }
        out.pairs.insert(k.to_string(), (v.to_string(), off, off + pair.len()));
        off += pair.len() + 1;
    }
    Ok(out)
}

/// Append `?k=v&…` for the non-default refinements given in order.
pub(crate) fn write_refinements(f: &mut fmt::Formatter<'_>, pairs: &[(&str, &str)]) -> fmt::Result {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
    }
    Ok(())
}

/// Append the path refinements shared by `fs` and `ipc` (`optional`, `sensitive`).
pub(crate) fn write_path_refinements(f: &mut fmt::Formatter<'_>, optional: bool, sensitive: bool) -> fmt::Result {
    let optional = optional.then_some(("optional", "true"));
    let sensitive = sensitive.then_some(("sensitive", "allow"));
    let pairs: Vec<(&str, &str)> = optional.into_iter().chain(sensitive).collect();
    write_refinements(f, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn parse_str(s: &str) -> Result<Capability, Diagnostic> {
        let f = |a: usize, b: usize| Span::new(a, b);
        parse(&Src { text: s, span_of: &f }, Grammar::V1)
    }

    pub(crate) fn parse_compat(s: &str) -> Result<Capability, Diagnostic> {
        let f = |a: usize, b: usize| Span::new(a, b);
        parse(&Src { text: s, span_of: &f }, Grammar::Compat)
    }

    fn code(s: &str) -> Code {
        parse_str(s).expect_err(s).code
    }

    fn canon(s: &str) -> String {
        parse_str(s).unwrap_or_else(|e| panic!("{s}: {e:?}")).to_string()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canon("fs:write,read:/data/**"), "fs:read,write:/data/**");
        assert_eq!(
            canon("fs:read:/data?sensitive=allow&optional=true"),
            "fs:read:/data?optional=true&sensitive=allow"
        );
        assert_eq!(canon("fs:read:/data?optional=false"), "fs:read:/data");
        assert_eq!(
            canon("net:connect:API.GitHub.com:443"),
            "net:connect:api.github.com:443"
        );
        assert_eq!(canon("net:connect:[2001:DB8::1]:443"), "net:connect:[2001:db8::1]:443");
        assert_eq!(canon("net:connect:*:*?proto=tcp"), "net:connect:*:*");
        assert_eq!(canon("env:inject,read:TOKEN"), "env:inject:TOKEN");
        assert_eq!(canon("clock:tzdata"), "clock:read:tzdata");
        assert_eq!(canon("limit:set:memory=512MiB"), "limit:set:memory=512MiB");
        assert_eq!(canon("limit:set:memory=1024MiB"), "limit:set:memory=1GiB");
        assert_eq!(
            canon("assert:require:x.y:some text: here?"),
            "assert:require:x.y:some text: here?"
        );
        assert_eq!(
            canon("ipc:connect:unix:/run/x.sock?sensitive=allow"),
            "ipc:connect:unix:/run/x.sock?sensitive=allow"
        );
    }

    #[test]
    fn compat_forms() {
        let c = |s: &str| parse_compat(s).unwrap().to_string();
        assert_eq!(c("net:connect:api.github.com"), "net:connect:api.github.com:*");
        assert_eq!(
            c("assert:pg.ro:\"all queries: READ ONLY\""),
            "assert:require:pg.ro:all queries: READ ONLY"
        );
        assert_eq!(
            c("exec:spawn:chromium?nestedSandbox=1"),
            "exec:spawn:chromium?nestedSandbox=true"
        );
        assert_eq!(c("clock:tzdata"), "clock:read:tzdata");
        assert_eq!(parse_compat("fs:read:\"/x\"").unwrap_err().code, Code::RelativePath);
        assert_eq!(
            dequote_compat("ipc:connect:\"unix:/run/x.sock\""),
            "ipc:connect:unix:/run/x.sock"
        );
        assert_eq!(dequote_compat("net:connect:\"::1\":443"), "net:connect:[::1]:443");
        assert_eq!(dequote_compat("assert:a:\"b: c\""), "assert:a:\"b: c\"");
        assert_eq!(dequote_compat("net:connect:\"a b\":443"), "net:connect:a b:443");
    }

    #[test]
    fn ts_holes_are_closed() {
        // traversal, dotted names, double slash
        assert_eq!(code("fs:read,write:/workspace/.."), Code::UnnormalizedPath);
        assert_eq!(code("fs:read:/a/./b"), Code::UnnormalizedPath);
        assert_eq!(code("fs:read:/a//b"), Code::UnnormalizedPath);
        assert_eq!(code("fs:read:/a/"), Code::UnnormalizedPath);
        assert_eq!(code("fs:read:data"), Code::RelativePath);
        assert_eq!(code("fs:read:~/.ssh"), Code::RelativePath);
        // `?` in a path no longer silently truncates
        assert_eq!(code("fs:read:/data/file?.txt"), Code::BadRefinement);
        // nestedSandbox only on exec
        assert_eq!(code("fs:read:/workspace?nestedSandbox=1"), Code::BadRefinement);
        assert_eq!(code("exec:spawn:chromium?nestedSandbox=yes"), Code::BadRefinement);
        // squid newline / nft quote injection
        assert_eq!(
            code("net:connect:api.github.com\nhttp_access allow all:443"),
            Code::ForbiddenCharacter
        );
        assert_eq!(code("net:connect:\"::/0 accept\":443"), Code::ForbiddenCharacter);
        assert_eq!(code("net:connect:\"::/0\":443"), Code::BadHost);
        assert_eq!(code("net:connect:a b:443"), Code::ForbiddenCharacter);
        // 443abc and friends
        for p in ["443abc", "443.9", "1e3", "0", "65536", "+443", "0443", "10-5", "", "1-"] {
            assert_eq!(code(&format!("net:connect:example.com:{p}")), Code::BadPort, "{p}");
        }
        // bidi / zero-width
        assert_eq!(code("fs:read:/data/\u{202e}x"), Code::ForbiddenCharacter);
        assert_eq!(code("net:connect:exa\u{200b}mple.com:443"), Code::ForbiddenCharacter);
        assert_eq!(code("net:connect:exаmple.com:443"), Code::NonAsciiHost);
    }

    #[test]
    fn unknown_things() {
        assert_eq!(code("fss:read:/x"), Code::UnknownKind);
        assert_eq!(code("fs:raed:/x"), Code::BadAction);
        assert_eq!(code("fs::/x"), Code::BadAction);
        assert_eq!(code("fs:read,,write:/x"), Code::BadAction);
        assert_eq!(code("fs"), Code::MalformedCapability);
        assert_eq!(code("fs:read"), Code::MalformedCapability);
        assert_eq!(code("fs:read:"), Code::MalformedCapability);
        assert_eq!(code("fs:read:/x?a"), Code::BadRefinement);
        assert_eq!(code("fs:read:/x?sensitive=allow&sensitive=allow"), Code::BadRefinement);
        assert_eq!(code("fs:read:/x?bogus=1"), Code::BadRefinement);
    }
}
