//! postprocess, verify and inspect against results and images made to trick
//! them: each test generates its hostile input with real tools (GNU tar,
//! gzip, gpg) and checks the refusal, and that nothing was signed or
//! published. A result is the output of a build, which can hold anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn postprocess(home: &GpgHome, dir: &Path, results: &[&Path], extra: &[&str]) -> Output {
    home.mkaci().arg("postprocess").args(extra).arg("--").arg(dir).args(results).output().unwrap()
}

/// Rewrites the result's `nix2aci.json` with `edit`.
fn edit_index(result: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = result.join("nix2aci.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Asserts a clean refusal: exit 1, one error line with `needles`, no panic.
fn refused(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(!stderr(o).contains("internal error"), "{}", stderr(o));
    assert_fails_with(o, needles);
}

/// A signed image `dir/name` (an `.asc` beside it) whose manifest is `manifest`.
fn signed_image(home: &GpgHome, dir: &Path, name: &str, manifest: &serde_json::Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let aci = dir.join(name);
    make_aci(&aci, &serde_json::to_vec(manifest).unwrap(), "x", &[]);
    let asc = dir.join(format!("{name}.asc"));
    let out = home.gpg().args(["--armor", "--detach-sign", "--output"]).arg(&asc).arg(&aci).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    aci
}

fn manifest_with(labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/x",
        "labels": labels,
        "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}
    })
}

#[test]
fn labels_that_cannot_be_file_names_are_refused_where_read() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    // An index whose version, os or arch holds '/' or a control character.
    for (field, value, problem) in [
        ("version", "1/../../escape", "contains '/'"),
        ("os", "linux\u{1b}[2J", "control character"),
        ("arch", "amd64/x", "contains '/'"),
    ] {
        let result = make_result(t.path(), &format!("r-{field}"), &[Img::fat("example.com/x")]);
        edit_index(&result, |v| v["artifacts"][0][field] = value.into());
        let dir = t.path().join(format!("ACIs-{field}"));
        let o = postprocess(&home, &dir, &[&result], &[]);
        refused(&o, &["nix2aci.json", &format!("artifacts[0].{field}"), problem]);
        assert!(!dir.exists(), "DIR was left behind");
    }
    // A signed image whose manifest has such a version, or a dependency
    // whose labels do: verify and inspect refuse it, naming the field.
    let dir = t.path().join("signed");
    let bad_version = manifest_with(serde_json::json!([
        {"name": "version", "value": "1/2"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}
    ]));
    let mut bad_dep =
        manifest_with(serde_json::json!([{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]));
    bad_dep["dependencies"] = serde_json::json!([{"imageName": "example.com/dep", "labels": [
        {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}, {"name": "version", "value": "a\nb"}
    ]}]);
    for (name, manifest, at) in
        [("v.aci", bad_version, "labels[0].value"), ("d.aci", bad_dep, "dependencies[0].labels[2].value")]
    {
        let aci = signed_image(&home, &dir, name, &manifest);
        let o = home.mkaci().arg("verify").arg(&aci).output().unwrap();
        refused(&o, &[at, "cannot go into a file name"]);
        let o = home.mkaci().args(["inspect", "--verify"]).arg(&aci).output().unwrap();
        assert!(!stderr(&o).contains("internal error"), "{}", stderr(&o));
        assert!(stderr(&o).contains(at), "{}", stderr(&o));
    }
}
