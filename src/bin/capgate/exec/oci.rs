//! `capgate exec --target oci`: runc with a bundle built in a private
//! directory from the compiled `oci/config.json`.
//!
//! The bundle's rootfs is an empty directory (plus the merged-/usr symlinks
//! when the config binds /usr); everything the server sees comes from the
//! config's mounts, like bwrap. The launcher's copy of the config gets the
//! passed env values (runc has no pass-through; the copy is mode 0600 in a
//! 0700 directory and removed when the run ends), the sandbox uid, optional
//! mounts whose source is absent dropped, and the egress wiring (proxy socket
//! and the capgate binary as the bridge). rootful runc only: the container
//! runs as the unprivileged uid without a user namespace.

use super::artifacts::{self, Loaded};
use super::{fail, preflight, process, Fail, RemoveOnDrop, BRIDGE_BIN, GRACE};
use crate::args::ExecArgs;
use capgate::json::Json;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

type Object = BTreeMap<String, Json>;

fn obj_mut<'a>(o: &'a mut Object, key: &str) -> Result<&'a mut Object, Fail> {
    match o.get_mut(key) {
        Some(Json::Object(x)) => Ok(x),
        _ => Err(fail(format!("oci/config.json has no `{key}` object"))),
    }
}

fn arr_mut<'a>(o: &'a mut Object, key: &str) -> Result<&'a mut Vec<Json>, Fail> {
    match o.get_mut(key) {
        Some(Json::Array(x)) => Ok(x),
        _ => Err(fail(format!("oci/config.json has no `{key}` array"))),
    }
}

fn bind_mount(source: &Path, dest: &str, mode: &str) -> Json {
    Json::Object(
        [
            ("destination".to_string(), Json::str(dest)),
            ("type".to_string(), Json::str("bind")),
            ("source".to_string(), Json::str(source.display().to_string())),
            ("options".to_string(), Json::strs(["bind", mode, "nosuid", "nodev"])),
        ]
        .into(),
    )
}

fn str_field<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    match o.get(key) {
        Some(Json::Str(s)) => Some(s),
        _ => None,
    }
}

pub(super) fn run(a: &ExecArgs, loaded: &Loaded, ids: (u32, u32)) -> Result<u8, Fail> {
    let mut config = loaded.object("oci/config.json").map_err(fail)?;
    let envelope = match config.remove("capgate") {
        Some(Json::Object(e)) => e,
        _ => return Err(fail("oci/config.json has no `capgate` envelope")),
    };
    if !process::is_root() {
        return Err(Fail(
            "--target oci runs rootful runc and needs root (the sandbox itself runs as --user); use --target bwrap"
                .into(),
            2,
        ));
    }
    let runc = super::runtime("runc", "runc")?;
    if let Ok(policy) = loaded.object("policy.json") {
        if let Some(Json::Str(image)) = policy.get("image") {
            eprintln!(
                "capgate exec: warning: --target oci does not pull or unpack images; {image} is ignored and the rootfs is empty (the profile's binds provide the runtime)"
            );
        }
    }
    let optional: Vec<String> = artifacts::strings(&envelope, "optional_mounts");

    // Mounts: resolve capgate-owned symlinked sources, drop absent optional
    // ones, check the rest like bwrap's binds.
    let mut sources = Vec::new();
    let mut keep = Vec::new();
    let mut binds_usr = false;
    for m in arr_mut(&mut config, "mounts")?.drain(..) {
        let Json::Object(mut m) = m else { continue };
        if str_field(&m, "type") != Some("bind") {
            keep.push(Json::Object(m));
            continue;
        }
        let dest = str_field(&m, "destination").unwrap_or_default().to_string();
        let mut source = PathBuf::from(str_field(&m, "source").unwrap_or_default());
        if let Some(real) = preflight::resolved(&source) {
            source = real;
            m.insert("source".into(), Json::str(source.display().to_string()));
        }
        let is_optional = optional.contains(&dest);
        if is_optional && std::fs::symlink_metadata(&source).is_err() {
            continue;
        }
        binds_usr |= dest == "/usr";
        let writable = matches!(m.get("options"), Some(Json::Array(o)) if o.contains(&Json::str("rw")));
        sources.push(preflight::Source {
            path: source,
            writable,
            optional: is_optional,
        });
        keep.push(Json::Object(m));
    }
    super::report_preflight(&sources, ids)?;

    let secrets = super::secret_values(&artifacts::passed_env(&envelope))?;
    let process_obj = obj_mut(&mut config, "process")?;
    let compiled_args = match process_obj.get("args") {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| if let Json::Str(s) = i { Some(s.clone()) } else { None })
            .collect(),
        _ => Vec::new(),
    };
    let mut full_cmd = super::command(compiled_args, &a.extra)?;
    process_obj.insert(
        "user".into(),
        Json::Object(
            [
                ("uid".to_string(), Json::Int(ids.0.into())),
                ("gid".to_string(), Json::Int(ids.1.into())),
            ]
            .into(),
        ),
    );
    {
        let env = arr_mut(process_obj, "env")?;
        for (k, v) in &secrets {
            env.retain(|e| !matches!(e, Json::Str(s) if s.split_once('=').map(|x| x.0) == Some(k.as_str())));
            env.push(Json::str(format!("{k}={v}")));
        }
    }

    let name = format!(
        "capgate-{}-{}",
        &loaded.key[..12.min(loaded.key.len())],
        std::process::id()
    );
    let egress = artifacts::needs_proxy(&envelope);
    if a.dry_run {
        if egress {
            full_cmd = super::bridge_prefix().into_iter().chain(full_cmd).collect();
        }
        println!(
            "# as uid:gid {}:{}, bundle in a private directory{}",
            ids.0,
            ids.1,
            if egress {
                ", with squid on a private socket bound at /run/capgate/proxy.sock"
            } else {
                ""
            }
        );
        println!(
            "{} run --bundle <private dir> {name}   # process.args: {}",
            runc.display(),
            super::redacted(&full_cmd, &[])
        );
        return Ok(0);
    }

    let rundir = super::egress::runtime_dir().map_err(|e| fail(format!("cannot create a runtime directory: {e}")))?;
    let _rundir_guard = RemoveOnDrop(rundir.clone());
    let proxy = if egress {
        let p = super::start_proxy(loaded, Some(ids))?;
        keep.push(bind_mount(&p.socket, capgate::target::PROXY_SOCKET, "rw"));
        keep.push(bind_mount(&super::self_exe()?, BRIDGE_BIN, "ro"));
        full_cmd = super::bridge_prefix().into_iter().chain(full_cmd).collect();
        Some(p)
    } else {
        None
    };
    // An init as pid 1 (as podman's --init), so a forwarded SIGTERM reaches
    // the server: pid 1 ignores signals it has no handler for.
    match std::fs::canonicalize(super::PODMAN_INIT) {
        Ok(init) => {
            keep.push(bind_mount(&init, INIT_BIN, "ro"));
            full_cmd = [INIT_BIN.to_string(), "--".to_string()].into_iter().chain(full_cmd).collect();
        }
        Err(_) => eprintln!(
            "capgate exec: warning: no catatonit ({}); the server runs as pid 1 and ignores SIGTERM unless it handles it",
            super::PODMAN_INIT
        ),
    }
    config.insert("mounts".into(), Json::Array(keep));
    obj_mut(&mut config, "process")?.insert("args".into(), Json::strs(&full_cmd));

    let bundle = rundir.join("bundle");
    let rootfs = bundle.join(capgate::target::OCI_ROOTFS);
    let io = |e: std::io::Error| fail(format!("cannot build the bundle: {e}"));
    std::fs::create_dir(&bundle).map_err(io)?;
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    std::fs::create_dir(&rootfs).map_err(io)?;
    std::fs::set_permissions(&rootfs, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    if binds_usr {
        for l in ["bin", "lib", "lib64", "sbin"] {
            std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).map_err(io)?;
        }
    }
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(bundle.join("config.json"))
            .map_err(io)?;
        f.write_all(Json::Object(config).to_compact().as_bytes()).map_err(io)?;
    }

    let globals = ["--root".to_string(), RUNC_ROOT.to_string()];
    // If this launcher is SIGKILLed, the reaper deletes the container and
    // the bundle (whose config holds the passed env values).
    let reap_flags = [
        "--runc".to_string(),
        "--remove".to_string(),
        rundir.display().to_string(),
    ];
    let _reaper = super::start_reaper_with(&reap_flags, &name, &globals)?;
    let mut c = Command::new(&runc);
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args(&globals)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&name)
        .current_dir(&rundir);
    let mut child = c.spawn().map_err(|e| fail(format!("cannot start runc: {e}")))?;
    process::forward_signals(&child, GRACE);
    let code = process::wait(&mut child).map_err(|e| fail(e.to_string()));
    // pid 1 ignores a forwarded SIGTERM it has no handler for, and a killed
    // runc leaves the container behind: delete it (SIGKILL) in every case.
    delete(&runc, &globals, &name);
    drop(proxy);
    code
}

/// In-sandbox path of the bound init (catatonit).
const INIT_BIN: &str = "/run/capgate/init";

/// runc's state directory for capgate's containers.
const RUNC_ROOT: &str = "/run/runc";

/// `runc delete --force NAME`, quietly.
pub fn delete(runc: &Path, globals: &[String], name: &str) -> bool {
    Command::new(runc)
        .args(globals)
        .args(["delete", "--force", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
