//! Each check fires on a hand-made violating artifact, and stays quiet on
//! what capgate compiles.

use super::*;
use crate::json::Json;
use crate::{compile, Compiled, Options};

const MANIFEST: &str = r#"{
  "grammar": "1", "name": "demo", "version": "1.0.0",
  "command": ["/usr/bin/node", "/opt/mcp/demo/index.js"],
  "capabilities": [
    "fs:read:/opt/mcp/demo/**",
    "fs:read,write,create,delete:/srv/data/**",
    "fs:read:/srv/data/config/**",
    "exec:spawn:git",
    "env:inject:API_TOKEN",
    "env:read:TZ",
    "env:set:MODE=prod",
    "net:connect:api.example.com:443",
    "net:connect:*.cdn.example.net:443",
    "net:connect:203.0.113.7:8443",
    "ipc:connect:unix:/srv/mcp/app.sock",
    "clock:read:tzdata"
  ]
}"#;

const NO_NET: &str = r#"{
  "grammar": "1", "name": "quiet", "version": "1.0.0",
  "command": ["/usr/bin/node", "/opt/mcp/demo/index.js"],
  "capabilities": ["fs:read:/opt/mcp/demo/**", "env:inject:API_TOKEN"]
}"#;

fn build(m: &str) -> Compiled {
    compile(m.as_bytes(), &Options::default()).unwrap_or_else(|d| panic!("{d:?}"))
}

fn violations(c: &Compiled, artifacts: &[Artifact]) -> Vec<Violation> {
    check(&c.policy, artifacts)
}

fn text_of(c: &Compiled, path: &str) -> String {
    String::from_utf8(c.artifact(path).unwrap().bytes.clone()).unwrap()
}

/// The artifacts with one text file rewritten.
fn with_text(c: &Compiled, path: &str, f: impl Fn(String) -> String) -> Vec<Artifact> {
    c.artifacts
        .iter()
        .map(|a| {
            if a.path == path {
                Artifact::text(&a.path, a.media_type, f(text_of(c, path)))
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Rewrite a string-array member of a JSON artifact.
fn with_json_list(c: &Compiled, path: &str, key: &str, f: impl Fn(&mut Vec<String>)) -> Vec<Artifact> {
    with_text(c, path, |t| {
        let mut v = json::parse(&t).unwrap().to_json();
        if let Json::Object(m) = &mut v {
            let mut list: Vec<String> = match m.get(key) {
                Some(Json::Array(a)) => a
                    .iter()
                    .map(|x| match x {
                        Json::Str(s) => s.clone(),
                        _ => panic!(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            f(&mut list);
            m.insert(key.into(), Json::strs(list));
        }
        v.to_pretty()
    })
}

/// Rewrite the bwrap options consistently in argv.json and args0.
fn with_bwrap_opts(c: &Compiled, f: impl Fn(&mut Vec<String>)) -> Vec<Artifact> {
    let argv_text = text_of(c, "bwrap/argv.json");
    let v = json::parse(&argv_text).unwrap();
    let argv = strings(member(&v, "argv").unwrap());
    let sep = argv.iter().position(|a| a == "--").unwrap();
    let mut opts = argv[1..sep].to_vec();
    f(&mut opts);
    let mut arts = with_json_list(c, "bwrap/argv.json", "argv", |a| {
        let cmd = a[sep + 1..].to_vec();
        *a = std::iter::once("bwrap".to_string())
            .chain(opts.iter().cloned())
            .chain(std::iter::once("--".to_string()))
            .chain(cmd)
            .collect();
    });
    let mut bytes = Vec::new();
    for o in &opts {
        bytes.extend_from_slice(o.as_bytes());
        bytes.push(0);
    }
    for a in &mut arts {
        if a.path == "bwrap/args0" {
            a.bytes = bytes.clone();
        }
    }
    arts
}

fn assert_fires(v: &[Violation], target: &str, item_part: &str, reason_part: &str) {
    assert!(
        v.iter()
            .any(|x| x.target == target && x.item.contains(item_part) && x.reason.contains(reason_part)),
        "expected a {target} violation on `{item_part}` ({reason_part}), got {v:#?}"
    );
}

#[test]
fn compiled_artifacts_are_contained() {
    for m in [MANIFEST, NO_NET] {
        let c = build(m);
        let v = violations(&c, &c.artifacts);
        assert!(v.is_empty(), "{v:#?}");
    }
}

// -- bwrap -------------------------------------------------------------------

#[test]
fn bwrap_undeclared_bind() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| o.extend(["--ro-bind", "/etc", "/etc"].map(String::from)));
    assert_fires(&violations(&c, &a), "bwrap", "/etc -> /etc", "neither a declared grant");
}

#[test]
fn bwrap_write_where_only_read_is_granted() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| {
        let i = o.iter().position(|x| x == "/opt/mcp/demo").unwrap();
        o[i - 1] = "--bind".into();
    });
    assert_fires(&violations(&c, &a), "bwrap", "/opt/mcp/demo", "no grant writes here");
}

#[test]
fn bwrap_read_only_child_hidden_by_a_later_writable_parent() {
    let c = build(MANIFEST);
    // Move the ro bind of /srv/data/config before the rw bind of /srv/data.
    let a = with_bwrap_opts(&c, |o| {
        let ro = o.iter().position(|x| x == "/srv/data/config").unwrap() - 1;
        let moved: Vec<String> = o.drain(ro..ro + 3).collect();
        let rw = o.iter().position(|x| x == "/srv/data").unwrap() - 1;
        for (k, x) in moved.into_iter().enumerate() {
            o.insert(rw + k, x);
        }
    });
    assert_fires(
        &violations(&c, &a),
        "bwrap",
        "/srv/data",
        "read-only grant /srv/data/config writable",
    );
}

#[test]
fn bwrap_traversal_in_a_bind_source() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| {
        o.extend(["--ro-bind", "/srv/data/../../etc", "/srv/data/../../etc"].map(String::from))
    });
    assert_fires(
        &violations(&c, &a),
        "bwrap",
        "/srv/data/../../etc",
        "not a clean absolute path",
    );
}

#[test]
fn bwrap_bind_destination_elsewhere() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| {
        o.extend(["--ro-bind", "/opt/mcp/demo", "/usr/bin"].map(String::from))
    });
    assert_fires(
        &violations(&c, &a),
        "bwrap",
        "/opt/mcp/demo -> /usr/bin",
        "destination differs",
    );
}

#[test]
fn bwrap_share_net_dev_bind_cap_add() {
    let c = build(NO_NET);
    let a = with_bwrap_opts(&c, |o| {
        o.push("--share-net".into());
        o.extend(["--dev-bind", "/dev", "/dev"].map(String::from));
        o.extend(["--cap-add", "CAP_SYS_ADMIN"].map(String::from));
        o.extend(["--userns", "3"].map(String::from));
    });
    let v = violations(&c, &a);
    assert_fires(&v, "bwrap", "--share-net", "no egress");
    assert_fires(&v, "bwrap", "--dev-bind", "host devices");
    assert_fires(&v, "bwrap", "/dev -> /dev", "neither a declared grant");
    assert_fires(&v, "bwrap", "--cap-add", "capability");
    assert_fires(&v, "bwrap", "--userns", "unknown or forbidden");
}

#[test]
fn bwrap_missing_isolation_options() {
    let c = build(NO_NET);
    let a = with_bwrap_opts(&c, |o| {
        o.retain(|x| x != "--clearenv" && x != "--disable-userns" && x != "--new-session");
        let i = o.iter().position(|x| x == "--cap-drop").unwrap();
        o[i + 1] = "CAP_NET_RAW".into();
    });
    let v = violations(&c, &a);
    for r in ["--clearenv", "--disable-userns", "--new-session", "--cap-drop ALL"] {
        assert_fires(&v, "bwrap", r, "required isolation option");
    }
}

#[test]
fn bwrap_secret_value_or_undeclared_env_in_argv() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| {
        o.extend(["--setenv", "API_TOKEN", "hunter2"].map(String::from));
        o.extend(["--setenv", "LD_PRELOAD", "/tmp/x.so"].map(String::from));
        o.extend(["--setenv", "MODE", "debug"].map(String::from));
    });
    let v = violations(&c, &a);
    assert_fires(&v, "bwrap", "API_TOKEN=hunter2", "launcher-supplied");
    assert_fires(&v, "bwrap", "LD_PRELOAD", "not declared");
    assert_fires(&v, "bwrap", "MODE=debug", "not declared");
}

#[test]
fn bwrap_args0_must_match_argv_and_stay_options() {
    let c = build(NO_NET);
    let a: Vec<Artifact> = c
        .artifacts
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if a.path == "bwrap/args0" {
                // A bare word: bwrap stops reading options there.
                a.bytes.splice(0..0, b"sh\0".iter().copied());
            }
            a
        })
        .collect();
    let v = violations(&c, &a);
    assert_fires(&v, "bwrap", "bwrap/args0", "differs");
    assert_fires(&v, "bwrap", "sh", "not an option");
}

#[test]
fn bwrap_exec_gap_must_be_reported() {
    let c = build(MANIFEST);
    let a = with_text(&c, "bwrap/argv.json", |t| {
        t.replace("\"exec:spawn:git\"", "\"exec:spawn:gitx\"")
    });
    assert_fires(
        &violations(&c, &a),
        "bwrap",
        "exec:spawn:git",
        "not listed under unenforced",
    );
    let a = with_text(&c, "docker/argv.json", |t| {
        t.replace("\"fs:read:/opt/mcp/demo/**\"", "\"fs:read:/opt/mcp/demo/x\"")
    });
    assert_fires(
        &violations(&c, &a),
        "docker",
        "fs:read:/opt/mcp/demo/**",
        "not listed under unenforced",
    );
}

#[test]
fn unsubstituted_placeholder() {
    let c = build(MANIFEST);
    let a = with_json_list(&c, "bwrap/argv.json", "argv", |a| a.push("${PKG}/x.js".into()));
    let v = violations(&c, &a);
    assert_fires(&v, "bwrap", "${PKG}", "placeholder");
    let a = with_text(&c, "egress/hosts", |t| t + "${HOST}\n");
    assert_fires(&violations(&c, &a), "egress", "${HOST}", "placeholder");
}

// -- docker ------------------------------------------------------------------

#[test]
fn docker_forbidden_flags() {
    let c = build(NO_NET);
    let a = with_json_list(&c, "docker/argv.json", "flags", |f| {
        f.push("--privileged".into());
        f.extend(["--cap-add", "SYS_ADMIN"].map(String::from));
        f.extend(["--security-opt", "seccomp=unconfined"].map(String::from));
        f.extend(["--security-opt", "label=disable"].map(String::from));
        f.extend(["--device", "/dev/kvm"].map(String::from));
        f.extend(["--pid", "host"].map(String::from));
    });
    let v = violations(&c, &a);
    assert_fires(&v, "docker", "--privileged", "forbidden");
    assert_fires(&v, "docker", "--cap-add", "forbidden");
    assert_fires(&v, "docker", "seccomp=unconfined", "weakens");
    assert_fires(&v, "docker", "label=disable", "weakens");
    assert_fires(&v, "docker", "--device", "forbidden");
    assert_fires(&v, "docker", "--pid", "forbidden");
}

#[test]
fn docker_network_user_and_required_flags() {
    let c = build(NO_NET);
    let a = with_json_list(&c, "docker/argv.json", "flags", |f| {
        let i = f.iter().position(|x| x == "--network").unwrap();
        f[i + 1] = "host".into();
        let i = f.iter().position(|x| x == "--user").unwrap();
        f[i + 1] = "0:0".into();
        f.retain(|x| x != "--read-only" && x != "no-new-privileges");
        let i = f.iter().position(|x| x == "--security-opt").unwrap();
        f.remove(i);
    });
    let v = violations(&c, &a);
    assert_fires(&v, "docker", "--network host", "network other than none");
    assert_fires(&v, "docker", "--user 0:0", "root");
    assert_fires(&v, "docker", "--read-only", "required");
    assert_fires(&v, "docker", "--security-opt no-new-privileges", "required");
    // A granted egress still never allows the host network.
    let c = build(MANIFEST);
    let a = with_json_list(&c, "docker/argv.json", "flags", |f| {
        let i = f.iter().position(|x| x == "--network").unwrap();
        f[i + 1] = "host".into();
    });
    assert_fires(
        &violations(&c, &a),
        "docker",
        "--network host",
        "network other than none",
    );
}

#[test]
fn docker_volumes() {
    let c = build(MANIFEST);
    let a = with_json_list(&c, "docker/argv.json", "flags", |f| {
        f.extend(["-v", "/:/:rw"].map(String::from));
        f.extend(["-v", "/var/run/docker.sock:/var/run/docker.sock"].map(String::from));
        f.extend(["-v", "/srv/data:/srv/data:rw,z"].map(String::from));
        f.extend(["--volume=/opt/mcp/demo:/opt/mcp/demo:rw"].map(String::from));
        f.extend(["-v", "myvolume:/data"].map(String::from));
        // The read-only child of /srv/data dropped: the rw parent exposes it.
        let i = f.iter().position(|x| x.starts_with("/srv/data/config:")).unwrap();
        f.drain(i - 1..=i);
    });
    let v = violations(&c, &a);
    assert_fires(&v, "docker", "/ -> /", "neither a declared grant");
    assert_fires(&v, "docker", "/var/run/docker.sock", "neither a declared grant");
    assert_fires(&v, "docker", "/srv/data:/srv/data:rw,z", "`z` is not allowed");
    assert_fires(&v, "docker", "/opt/mcp/demo -> /opt/mcp/demo", "no grant writes here");
    assert_fires(&v, "docker", "myvolume", "not a clean absolute path");
    assert_fires(&v, "docker", "/srv/data -> /srv/data", "/srv/data/config writable");
}

#[test]
fn docker_env() {
    let c = build(MANIFEST);
    let a = with_json_list(&c, "docker/argv.json", "flags", |f| {
        f.extend(["--env", "API_TOKEN=hunter2"].map(String::from));
        f.extend(["--env", "AWS_SECRET_ACCESS_KEY"].map(String::from));
        f.extend(["-e", "NODE_OPTIONS=--require /tmp/x.js"].map(String::from));
    });
    let v = violations(&c, &a);
    assert_fires(&v, "docker", "API_TOKEN=hunter2", "launcher-supplied");
    assert_fires(&v, "docker", "AWS_SECRET_ACCESS_KEY", "no env:read/env:inject");
    assert_fires(&v, "docker", "NODE_OPTIONS", "not declared");
}

#[test]
fn docker_podman_flags() {
    let c = build(NO_NET);
    let a = with_json_list(&c, "docker/argv.json", "podman_flags", |f| {
        f.push("--userns=host".into())
    });
    assert_fires(&violations(&c, &a), "docker", "--userns=host", "podman flag");
}

// -- egress ------------------------------------------------------------------

#[test]
fn squid_undeclared_or_widened_allows() {
    let c = build(MANIFEST);
    let deny = "http_access deny all";
    for (extra, item) in [
        ("http_access allow all", "allow all"),
        (
            "acl evil dstdomain -n evil.example.org\nhttp_access allow evil",
            "allow evil",
        ),
        // The declared name, but to the private ranges (no !capgate_special).
        (
            "acl n dstdomain -n api.example.com\nacl p port 443\nhttp_access allow n p",
            "allow n p",
        ),
        // The declared name on another port.
        (
            "acl n dstdomain -n api.example.com\nacl p port 22\nhttp_access allow n p !capgate_special",
            "allow n p",
        ),
        // A dot-prefixed domain also matches the bare name.
        (
            "acl n dstdomain -n .cdn.example.net\nacl p port 443\nhttp_access allow n p !capgate_special",
            "allow n p",
        ),
        // The metadata address.
        ("acl m dst 169.254.169.254/32\nhttp_access allow m", "allow m"),
    ] {
        let a = with_text(&c, "egress/squid.conf", |t| {
            t.replace(deny, &format!("{extra}\n{deny}"))
        });
        assert_fires(&violations(&c, &a), "egress", item, "no declared net:connect");
    }
    // An extra value smuggled into a declared acl.
    let a = with_text(&c, "egress/squid.conf", |t| {
        t.replace(deny, &format!("acl capgate_1_dst dst 10.0.0.0/8\n{deny}"))
    });
    assert_fires(
        &violations(&c, &a),
        "egress",
        "allow capgate_1",
        "no declared net:connect",
    );
}

#[test]
fn squid_structure() {
    let c = build(MANIFEST);
    let a = with_text(&c, "egress/squid.conf", |t| t.replace("http_access deny all", ""));
    assert_fires(&violations(&c, &a), "egress", "deny all", "does not end in deny all");
    let a = with_text(&c, "egress/squid.conf", |t| t + "include /etc/squid/evil.conf\n");
    assert_fires(&violations(&c, &a), "egress", "include", "only acl and http_access");
    let a = with_text(&c, "egress/squid.conf", |t| t.replace(" 169.254.0.0/16", ""));
    assert_fires(&violations(&c, &a), "egress", "capgate_special", "169.254.0.0/16");
    let a = with_text(&c, "egress/squid.conf", |t| t + "acl src_all src all\n");
    assert_fires(&violations(&c, &a), "egress", "src_all", "acl type");
}

#[test]
fn nft_undeclared_accepts() {
    let c = build(MANIFEST);
    let tail = "\t\tmeta l4proto tcp reject with tcp reset";
    for extra in [
        "ip daddr 198.51.100.9 tcp dport 443 accept",
        "ip daddr 203.0.113.0/24 tcp dport 8443 accept",
        "ip daddr 203.0.113.7 tcp dport 22 accept",
        "ip daddr 203.0.113.7 udp dport 8443 accept",
        "tcp dport 443 accept",
        "accept",
        "ip saddr 10.0.0.1 accept",
        "jump evil",
    ] {
        let a = with_text(&c, "egress/nftables.nft", |t| {
            t.replace(tail, &format!("\t\t{extra}\n{tail}"))
        });
        let v = violations(&c, &a);
        assert!(v.iter().any(|x| x.item == extra), "{extra}: {v:#?}");
    }
}

#[test]
fn nft_smuggled_statements() {
    let c = build(MANIFEST);
    let tail = "\t\tmeta l4proto tcp reject with tcp reset";
    for extra in [
        "ip daddr 198.51.100.9 accept; reject",
        "ip daddr 198.51.100.9 jump out reject",
    ] {
        let a = with_text(&c, "egress/nftables.nft", |t| {
            t.replace(tail, &format!("\t\t{extra}\n{tail}"))
        });
        let v = violations(&c, &a);
        assert!(v.iter().any(|x| x.item == extra), "{extra}: {v:#?}");
    }
    let a = with_text(&c, "egress/nftables.nft", |t| {
        t.replace(
            "240.0.0.0/4 }",
            "240.0.0.0/4 } } chain evil { type filter hook output priority -1 }",
        )
    });
    let v = violations(&c, &a);
    assert_fires(&v, "egress", "chain evil", "");
}

#[test]
fn bwrap_chmod_is_not_allowed() {
    let c = build(MANIFEST);
    let a = with_bwrap_opts(&c, |o| o.extend(["--chmod", "0777", "/srv/data"].map(String::from)));
    assert_fires(&violations(&c, &a), "bwrap", "--chmod", "unknown or forbidden");
}

#[test]
fn nft_structure() {
    let c = build(MANIFEST);
    let a = with_text(&c, "egress/nftables.nft", |t| {
        t.replace("policy drop;", "policy accept;")
    });
    assert_fires(&violations(&c, &a), "egress", "policy accept", "default to drop");
    let a = with_text(&c, "egress/nftables.nft", |t| {
        t.replace("\t\tip daddr @special_v4 reject\n", "")
    });
    let v = violations(&c, &a);
    assert_fires(&v, "egress", "nftables.nft", "special ranges are never rejected");
    // The name rule then comes before any special rejection.
    assert_fires(&v, "egress", "@name_", "no declared net:connect");
    let a = with_text(&c, "egress/nftables.nft", |t| t.replace("127.0.0.0/8, ", ""));
    assert_fires(&violations(&c, &a), "egress", "special_v4", "127.0.0.0/8");
    let a = with_text(&c, "egress/nftables.nft", |t| t + "table ip nat {\n}\n");
    assert_fires(&violations(&c, &a), "egress", "table ip nat", "only the capgate table");
    let a = with_text(&c, "egress/nftables.nft", |t| {
        t.replace("\tchain output {", "\tchain input {\n\t}\n\tchain output {")
    });
    assert_fires(
        &violations(&c, &a),
        "egress",
        "chain input",
        "only sets and the output chain",
    );
}

#[test]
fn hosts_undeclared_name() {
    let c = build(MANIFEST);
    let a = with_text(&c, "egress/hosts", |t| t + "evil.example.org\n");
    assert_fires(&violations(&c, &a), "egress", "evil.example.org", "no net:connect");
    let a = with_text(&c, "egress/hosts", |t| t + "169.254.169.254 api.example.com\n");
    assert_fires(&violations(&c, &a), "egress", "169.254.169.254", "no net:connect");
}

// -- oci and policy.json -----------------------------------------------------

fn with_oci(c: &Compiled, config: &str) -> Vec<Artifact> {
    let mut a = c.artifacts.clone();
    a.push(Artifact::text("oci/config.json", "application/json", config.into()));
    a
}

#[test]
fn oci_config_checked_when_present() {
    let c = build(NO_NET);
    let good = r#"{"process":{"args":["/usr/bin/node","/opt/mcp/demo/index.js"],"noNewPrivileges":true,
      "user":{"uid":65534,"gid":65534},"env":["HOME=/tmp","PATH=/usr/bin:/bin"],
      "capabilities":{"bounding":[],"effective":[]}},
      "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                {"destination":"/usr","type":"bind","source":"/usr","options":["rbind","ro"]},
                {"destination":"/opt/mcp/demo","type":"bind","source":"/opt/mcp/demo","options":["rbind","ro"]}],
      "linux":{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"network"},{"type":"user"}]}}"#;
    let v = violations(&c, &with_oci(&c, good));
    assert!(v.is_empty(), "{v:#?}");
    let bad = r#"{"process":{"args":["/bin/sh"],"noNewPrivileges":false,"user":{"uid":0},
      "env":["API_TOKEN=x"],"capabilities":{"bounding":["CAP_SYS_ADMIN"]}},
      "mounts":[{"destination":"/home","type":"bind","source":"/home","options":["rbind"]},
                {"destination":"/opt/mcp/demo","type":"bind","source":"/opt/mcp/demo","options":["rbind","rw"]},
                {"destination":"/sys","type":"sysfs","source":"sysfs","options":["rw"]}],
      "linux":{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
               "devices":[{"path":"/dev/kvm","type":"c","major":10,"minor":232}]}}"#;
    let v = violations(&c, &with_oci(&c, bad));
    assert_fires(&v, "oci", "/home -> /home", "neither a declared grant");
    assert_fires(&v, "oci", "/opt/mcp/demo", "no grant writes here");
    assert_fires(&v, "oci", "sysfs /sys", "not allowed");
    assert_fires(&v, "oci", "CAP_SYS_ADMIN", "capability");
    assert_fires(&v, "oci", "noNewPrivileges", "must be true");
    assert_fires(&v, "oci", "uid 0", "root");
    assert_fires(&v, "oci", "API_TOKEN=x", "launcher-supplied");
    assert_fires(&v, "oci", "/bin/sh", "command differs");
    assert_fires(&v, "oci", "namespace network", "joins");
    assert_fires(&v, "oci", "namespace ipc", "not unshared");
    assert_fires(&v, "oci", "/dev/kvm", "host device");
}

#[test]
fn policy_json_baseline_must_be_the_profiles() {
    let c = build(NO_NET);
    let a = with_text(&c, "policy.json", |t| t.replace("\"/usr\"", "\"/etc\""));
    let v = violations(&c, &a);
    assert_fires(&v, "policy", "/etc", "baseline path the profile does not have");
    // /usr is no longer listed, so its bind is undeclared.
    assert_fires(&v, "bwrap", "/usr -> /usr", "neither a declared grant");
}

/// x11 passes the launcher's DISPLAY only when the manifest has no env grant
/// for it: an `env:set:DISPLAY=…` value stands and is not a violation
/// (found by the compile fuzz target), while a value smuggled in for the
/// launcher-supplied DISPLAY still is.
#[test]
fn x11_with_a_declared_display_value_is_contained() {
    let set = build(
        r#"{"grammar":"1","name":"d","version":"1","command":["/usr/bin/xterm"],
            "capabilities":["ipc:connect:x11","env:set:DISPLAY=:99"]}"#,
    );
    assert_eq!(violations(&set, &set.artifacts), vec![]);
    let passed = build(
        r#"{"grammar":"1","name":"d","version":"1","command":["/usr/bin/xterm"],
            "capabilities":["ipc:connect:x11"]}"#,
    );
    assert_eq!(violations(&passed, &passed.artifacts), vec![]);
    let smuggled = with_json_list(&passed, "docker/argv.json", "flags", |flags| {
        flags.push("--env".into());
        flags.push("DISPLAY=:1".into());
    });
    assert!(
        violations(&passed, &smuggled)
            .iter()
            .any(|v| v.item.contains("DISPLAY")),
        "{:?}",
        violations(&passed, &smuggled)
    );
}
