//! `env:<read|inject|set>:<NAME>` or `env:set:NAME=value`
//!
//! `read` passes a host value through, `inject` marks a secret supplied at
//! launch; neither value ever appears in an artifact. `set` fixes a value in
//! the artifact. Loader and interpreter hooks need `?sensitive=allow`.

use super::{write_refinements, Parts};
use crate::diag::{Code, Diagnostic};
use std::fmt;

/// How a variable reaches the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EnvAction {
    /// Pass the launcher's value through.
    Read,
    /// A secret the launcher supplies; redacted everywhere.
    Inject,
    /// A fixed value written in the artifact.
    Set,
}

impl EnvAction {
    /// The action word.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvAction::Read => "read",
            EnvAction::Inject => "inject",
            EnvAction::Set => "set",
        }
    }
}

/// An environment grant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvGrant {
    /// Variable name.
    pub name: String,
    /// How it is passed.
    pub action: EnvAction,
    /// The value, for `set`.
    pub value: Option<String>,
    /// `?sensitive=allow`.
    pub sensitive: bool,
}

impl fmt::Display for EnvGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env:{}:{}", self.action.as_str(), self.name)?;
        if let Some(v) = &self.value {
            write!(f, "={v}")?;
        }
        write_refinements(f, if self.sensitive { &[("sensitive", "allow")] } else { &[] })
    }
}

/// Variables that change how a loader or interpreter runs code, matched on
/// the upper-cased name; entries ending in `*` are prefixes.
pub const SENSITIVE_NAMES: &[&str] = &[
    "LD_*",
    "DYLD_*",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PYTHONWARNINGS",
    "BASH_ENV",
    "ENV",
    "BASH_FUNC_*",
    "SHELLOPTS",
    "PS4",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "MALLOC_*",
    "GLIBC_TUNABLES",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXEC_PATH",
    "GIT_CONFIG_*",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SSH_AUTH_SOCK",
    "PROMPT_COMMAND",
    "IFS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "LUA_INIT*",
    "LUA_PATH*",
    "LUA_CPATH*",
    "TCLLIBPATH",
    "R_PROFILE*",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "DOTNET_STARTUP_HOOKS",
    "CORECLR_*",
    "COR_*",
];

/// True if the variable is a loader or interpreter hook.
pub fn is_sensitive_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    SENSITIVE_NAMES.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => up.starts_with(prefix),
        None => up == *p,
    })
}

/// Letters, digits and `_`, not starting with a digit, at most 128 bytes.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn parse(p: &Parts<'_>) -> Result<EnvGrant, Diagnostic> {
    let actions = p.actions(&["read", "inject", "set"])?;
    p.refinement_keys(&["sensitive"])?;
    let sensitive = p.sensitive_allowed()?;
    let action = if actions.contains(&"set") {
        if actions.len() > 1 {
            return Err(
                Diagnostic::error(Code::BadAction, "`set` cannot be combined with other env actions")
                    .at(p.span_actions())
                    .hint("a variable is either fixed (set) or passed from the launcher (read/inject)"),
            );
        }
        EnvAction::Set
    } else if actions.contains(&"inject") {
        EnvAction::Inject
    } else {
        EnvAction::Read
    };
    let (name, value) = match p.scope.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (p.scope, None),
    };
    if !valid_name(name) {
        return Err(Diagnostic::error(
            Code::BadEnvName,
            format!("`{}` is not a valid variable name", crate::json::printable(name)),
        )
        .at(p.span_in_scope(0, name.len().max(1)))
        .hint("names are letters, digits and `_`, not starting with a digit"));
    }
    match (action, value) {
        (EnvAction::Set, None) => {
            return Err(Diagnostic::error(Code::BadEnvValue, "`env:set` needs NAME=value")
                .at(p.span_scope())
                .hint(format!("write env:set:{name}=value")))
        }
        (EnvAction::Read | EnvAction::Inject, Some(_)) => {
            return Err(Diagnostic::error(Code::BadEnvValue, "only `env:set` takes a value")
                .at(p.span_in_scope(name.len(), p.scope.len()))
                .hint("read and inject pass the launcher's value; values never appear in the manifest"))
        }
        (_, Some(v)) if v.len() > 4096 => {
            return Err(Diagnostic::error(Code::BadEnvValue, "the value is longer than 4096 bytes").at(p.span_scope()))
        }
        _ => {}
    }
    if !sensitive && is_sensitive_name(name) {
        return Err(Diagnostic::error(
            Code::SensitiveEnv,
            format!("`{name}` changes how programs load code or reach the network"),
        )
        .at(p.span_in_scope(0, name.len()))
        .hint("add ?sensitive=allow if the server truly needs it"));
    }
    Ok(EnvGrant {
        name: name.to_string(),
        action,
        value: value.map(str::to_string),
        sensitive,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_str;
    use super::*;

    #[test]
    fn env() {
        assert_eq!(parse_str("env:set:MODE=fast").unwrap().to_string(), "env:set:MODE=fast");
        assert_eq!(parse_str("env:read:http_proxy").unwrap_err().code, Code::SensitiveEnv);
        assert_eq!(parse_str("env:inject:LD_PRELOAD").unwrap_err().code, Code::SensitiveEnv);
        assert_eq!(
            parse_str("env:set:NODE_OPTIONS=--require=/x").unwrap_err().code,
            Code::SensitiveEnv
        );
        assert_eq!(
            parse_str("env:read:ld_preload?sensitive=allow").unwrap().to_string(),
            "env:read:ld_preload?sensitive=allow"
        );
        assert_eq!(parse_str("env:inject:A=b").unwrap_err().code, Code::BadEnvValue);
        assert_eq!(parse_str("env:set:A").unwrap_err().code, Code::BadEnvValue);
        assert_eq!(parse_str("env:set,read:A=b").unwrap_err().code, Code::BadAction);
        assert_eq!(parse_str("env:read:1A").unwrap_err().code, Code::BadEnvName);
        assert_eq!(parse_str("env:read:A-B").unwrap_err().code, Code::BadEnvName);
    }
}
