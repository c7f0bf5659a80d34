//! `ipc:connect:<x11 | wayland | dbus:session | dbus:system | unix:/abs/path>`

use super::path::{check_absolute, sensitive_reason};
use super::{write_path_refinements, Parts};
use crate::diag::{Code, Diagnostic};
use std::fmt;

/// An IPC endpoint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpcEndpoint {
    /// The X11 display (`/tmp/.X11-unix`, `DISPLAY`).
    X11,
    /// The Wayland display.
    Wayland,
    /// The D-Bus session bus.
    DbusSession,
    /// The D-Bus system bus.
    DbusSystem,
    /// A unix socket at an absolute path.
    Unix(String),
}

/// An IPC grant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpcGrant {
    /// The endpoint.
    pub endpoint: IpcEndpoint,
    /// `?sensitive=allow` (needed for sockets in sensitive places).
    pub sensitive: bool,
    /// `?optional=true`: the socket may be absent at launch.
    pub optional: bool,
}

impl fmt::Display for IpcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcEndpoint::X11 => f.write_str("x11"),
            IpcEndpoint::Wayland => f.write_str("wayland"),
            IpcEndpoint::DbusSession => f.write_str("dbus:session"),
            IpcEndpoint::DbusSystem => f.write_str("dbus:system"),
            IpcEndpoint::Unix(p) => write!(f, "unix:{p}"),
        }
    }
}

impl fmt::Display for IpcGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipc:connect:{}", self.endpoint)?;
        write_path_refinements(f, self.optional, self.sensitive)
    }
}

pub(super) fn parse(p: &Parts<'_>) -> Result<IpcGrant, Diagnostic> {
    p.actions(&["connect"])?;
    p.refinement_keys(&["sensitive", "optional"])?;
    let sensitive = p.sensitive_allowed()?;
    let optional = p.optional()?;
    let endpoint = match p.scope {
        "x11" => IpcEndpoint::X11,
        "wayland" => IpcEndpoint::Wayland,
        "dbus:session" => IpcEndpoint::DbusSession,
        "dbus:system" => IpcEndpoint::DbusSystem,
        s if s.starts_with("unix:") => {
            let path = &s[5..];
            check_absolute(path, &|a, b| p.span_in_scope(a + 5, b + 5))?;
            if let Some(i) = path.find(['*', '[', ']', '{', '}']) {
                return Err(Diagnostic::error(Code::BadGlob, "a socket path cannot hold a glob")
                    .at(p.span_in_scope(5 + i, 6 + i))
                    .hint("name the socket's exact path"));
            }
            if path == "/" {
                return Err(Diagnostic::error(Code::BadIpc, "`unix:/` names no socket").at(p.span_scope()));
            }
            if !sensitive {
                if let Some(why) = sensitive_reason(path) {
                    return Err(Diagnostic::error(Code::SensitivePath, format!("socket `{path}` is sensitive: {why}"))
                        .at(p.span_in_scope(5, s.len()))
                        .hint("container-runtime and system sockets are root on the host; add ?sensitive=allow only if intended"));
                }
            }
            IpcEndpoint::Unix(path.to_string())
        }
        other => {
            return Err(Diagnostic::error(
                Code::BadIpc,
                format!("unknown IPC endpoint `{}`", crate::json::printable(other)),
            )
            .at(p.span_scope())
            .hint("endpoints: x11, wayland, dbus:session, dbus:system, unix:/absolute/path"))
        }
    };
    Ok(IpcGrant {
        endpoint,
        sensitive,
        optional,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_str;
    use super::*;

    #[test]
    fn ipc() {
        assert_eq!(
            parse_str("ipc:connect:unix:/var/run/docker.sock").unwrap_err().code,
            Code::SensitivePath
        );
        assert_eq!(
            parse_str("ipc:connect:unix:/srv/app/app.sock").unwrap().to_string(),
            "ipc:connect:unix:/srv/app/app.sock"
        );
        assert_eq!(parse_str("ipc:connect:dbus:user").unwrap_err().code, Code::BadIpc);
        assert_eq!(parse_str("ipc:connect:unix:rel").unwrap_err().code, Code::RelativePath);
    }
}
