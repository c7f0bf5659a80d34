//! `capgate exec --launch-log PATH|fd:N`: one JSON line per launch
//! (`capgate.launch/1`, schemas/capgate.launch.schema.json), written once the
//! server has exited, with start and end times, so a runtime record can be
//! joined to the compiled policy by its key and artifact digests.
//!
//! The line holds names, never values: the server's argv as run (capgate
//! passes secrets through `--args FD` or the runtime's environment, never
//! argv) and the names of the variables passed. It is written with a single
//! `write(2)` on a descriptor opened with `O_APPEND`, so lines of concurrent
//! launchers never interleave in a file.

use super::artifacts::Loaded;
use super::Fail;
use capgate::json::Json;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::SystemTime;

/// Where the line goes, opened before the server starts so a bad path fails
/// the launch instead of losing the record.
pub struct Sink(OwnedFd);

/// Open `PATH` (created 0600, appended) or duplicate `fd:N`.
pub fn open(spec: &str) -> Result<Sink, Fail> {
    if let Some(n) = spec.strip_prefix("fd:") {
        let fd: i32 = n.parse().ok().filter(|f| *f >= 0).ok_or_else(|| {
            Fail(
                format!("--launch-log {spec}: expected fd:N with N a descriptor number"),
                2,
            )
        })?;
        // SAFETY: F_DUPFD_CLOEXEC on a caller-supplied number; a bad one gives EBADF.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if dup < 0 {
            return Err(Fail(
                format!("--launch-log {spec}: {}", std::io::Error::last_os_error()),
                2,
            ));
        }
        // SAFETY: dup is a fresh descriptor we own.
        return Ok(Sink(unsafe { OwnedFd::from_raw_fd(dup) }));
    }
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(spec)
        .map_err(|e| Fail(format!("--launch-log {spec}: {e}"), 2))?;
    Ok(Sink(f.into()))
}

/// What is known when the server starts.
pub struct Launch {
    pub target: &'static str,
    /// The runtime's argv (bwrap or podman), secrets never in it.
    pub runtime_argv: Vec<String>,
    /// The server command as run inside the sandbox.
    pub command: Vec<String>,
    /// Names of the variables passed from the launcher's environment.
    pub env: Vec<String>,
    pub user: (u32, u32),
    pub pid: u32,
    pub container: Option<String>,
    /// How each resource limit was enforced (`limit:set:...` → mechanism).
    pub limits: BTreeMap<String, String>,
    pub start: SystemTime,
}

/// How the run ended.
pub struct End {
    /// The runtime process's wait status.
    pub status: std::process::ExitStatus,
    /// What capgate exec returns.
    pub exit: u8,
}

/// The record as JSON (no secret values: only names and argv).
pub fn record(loaded: &Loaded, l: &Launch, end: &End) -> Json {
    use std::os::unix::process::ExitStatusExt;
    let mut o = BTreeMap::new();
    let s = |v: &str| Json::str(v);
    o.insert("format".into(), s("capgate.launch/1"));
    o.insert("capgate".into(), s(capgate::VERSION));
    o.insert("key".into(), s(&loaded.key));
    let index = loaded.object("index.json").unwrap_or_default();
    if let Some(m @ Json::Object(_)) = index.get("manifest") {
        o.insert("manifest".into(), m.clone());
    }
    let mut digests = BTreeMap::new();
    if let Some(Json::Array(files)) = index.get("files") {
        for f in files {
            if let Json::Object(f) = f {
                if let (Some(Json::Str(p)), Some(Json::Str(h))) = (f.get("path"), f.get("sha256")) {
                    digests.insert(p.clone(), Json::str(h));
                }
            }
        }
    }
    if let Ok(bytes) = loaded.get("index.json") {
        digests.insert("index.json".into(), Json::str(capgate::artifact::sha256_hex(bytes)));
    }
    o.insert("artifacts".into(), Json::Object(digests));
    o.insert("target".into(), s(l.target));
    o.insert("runtime_argv".into(), Json::strs(&l.runtime_argv));
    o.insert("command".into(), Json::strs(&l.command));
    o.insert("env".into(), Json::strs(&l.env));
    o.insert("user".into(), s(&format!("{}:{}", l.user.0, l.user.1)));
    o.insert("pid".into(), Json::Int(l.pid.into()));
    if let Some(c) = &l.container {
        o.insert("container".into(), s(c));
    }
    o.insert(
        "limits".into(),
        Json::Object(l.limits.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect()),
    );
    o.insert("start".into(), s(&rfc3339(l.start)));
    o.insert("end".into(), s(&rfc3339(SystemTime::now())));
    let mut status = BTreeMap::new();
    match (end.status.code(), end.status.signal()) {
        (Some(c), _) => status.insert("code".to_string(), Json::Int(c.into())),
        (None, Some(sig)) => status.insert("signal".to_string(), Json::Int(sig.into())),
        _ => None,
    };
    o.insert("status".into(), Json::Object(status));
    o.insert("exit".into(), Json::Int(end.exit.into()));
    Json::Object(o)
}

/// Append `line` + LF in one write.
pub fn write(sink: &Sink, rec: &Json) -> Result<(), String> {
    let mut line = rec.to_compact();
    line.push('\n');
    // SAFETY: writing a valid buffer to a descriptor we own.
    let n = unsafe { libc::write(sink.0.as_raw_fd(), line.as_ptr().cast(), line.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    if n as usize != line.len() {
        return Err(format!("short write ({n} of {} bytes)", line.len()));
    }
    Ok(())
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-24T11:50:03.120Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, SystemTime};

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64, ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_000_000, 999), "2026-11-18T11:06:40.999Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
    }
}
