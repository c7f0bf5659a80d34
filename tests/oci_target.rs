//! The oci target through the CLI: opt-in (a compile without `--target`
//! writes no oci/config.json), part of the key, verified like the others,
//! and never holding an env value it only passes.

use std::path::Path;
use std::process::Command;

const MANIFEST: &str = r#"{
  "grammar": "1",
  "name": "oci-cli",
  "version": "1.0.0",
  "command": ["/usr/bin/node", "/opt/mcp/demo/index.js"],
  "capabilities": [
    "fs:read:/opt/mcp/demo/**",
    "env:inject:DEMO_TOKEN",
    "env:read:DEMO_URL",
    "env:set:DEMO_MODE=safe",
    "limit:set:memory=128MiB"
  ]
}"#;

fn capgate(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
        .current_dir(dir)
        .env_clear()
        .env("DEMO_TOKEN", "token-value-must-not-appear")
        .env("DEMO_URL", "url-value-must-not-appear")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn oci_is_opt_in_keyed_and_verified() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("capgate.json"), MANIFEST).unwrap();

    stdout(&capgate(t.path(), &["compile", "capgate.json", "--out-dir", "default"]));
    assert!(!t.path().join("default/oci").exists(), "oci is not a default target");
    assert!(t.path().join("default/bwrap/argv.json").exists());

    stdout(&capgate(
        t.path(),
        &["compile", "capgate.json", "--target", "oci", "--out-dir", "only-oci"],
    ));
    let mut files: Vec<String> = std::fs::read_dir(t.path().join("only-oci"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["index.json", "oci", "policy.json"]);
    let config = std::fs::read_to_string(t.path().join("only-oci/oci/config.json")).unwrap();
    assert!(!config.contains("must-not-appear"), "an env value reached the config");
    assert!(
        config.contains("\"DEMO_MODE=safe\""),
        "env:set values are in process.env"
    );
    assert!(config.contains("\"name\": \"DEMO_TOKEN\""), "inject names are listed");
    assert!(config.contains("\"format\": \"capgate.oci/1\""));

    // The target set is part of the key.
    let k_default = stdout(&capgate(t.path(), &["key", "capgate.json"]));
    let k_oci = stdout(&capgate(t.path(), &["key", "capgate.json", "--target", "oci"]));
    assert_ne!(k_default, k_oci);
    let index = std::fs::read_to_string(t.path().join("only-oci/index.json")).unwrap();
    assert!(index.contains(&k_oci));

    // verify needs the same targets: with them it matches, without it does not.
    stdout(&capgate(
        t.path(),
        &["verify", "capgate.json", "--golden-dir", "only-oci", "--target", "oci"],
    ));
    let o = capgate(t.path(), &["verify", "capgate.json", "--golden-dir", "only-oci"]);
    assert_eq!(o.status.code(), Some(1));

    // --strict: the oci target reports executable binds like the others.
    let o = capgate(
        t.path(),
        &[
            "compile",
            "capgate.json",
            "--target",
            "oci",
            "--strict",
            "--out-dir",
            "strict",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("oci: `fs:read:/opt/mcp/demo/**` is not enforced"));
}
