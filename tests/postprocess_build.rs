//! The contract between `mkaci build` and `mkaci postprocess`/`verify`: what
//! the builder writes (docs/result-layout.md) is what postprocess reads. A
//! store in a temporary directory stands in for the sandbox, with the real
//! busybox-static; the generated postprocess.sh is run as the user would.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const H_BUSYBOX: &str = "0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";

/// A store with busybox, and the result of `mkaci build` for `spec` in `t/name`.
/// A busybox 1.0 result built and published into `<tmp>/ACIs` with a fresh
/// RSA key: the key's home, the temporary directory, the result, DIR.
fn published_busybox() -> (GpgHome, tempfile::TempDir, PathBuf, PathBuf) {
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let result = build(t.path(), "r", json!({"version": "1.0"}));
    let dir = t.path().join("ACIs");
    let out = home.mkaci().arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (home, t, result, dir)
}

fn build(t: &Path, name: &str, spec: Value) -> PathBuf {
    let store = t.join("nix/store");
    let bb = store.join(format!("{H_BUSYBOX}-busybox"));
    if !bb.exists() {
        std::fs::create_dir_all(bb.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", bb.join("bin/busybox")).unwrap();
        std::fs::set_permissions(bb.join("bin/busybox"), std::fs::Permissions::from_mode(0o555)).unwrap();
        symlink("busybox", bb.join("bin/sh")).unwrap();
    }
    let bb = bb.to_str().unwrap().to_string();
    let mut aci = json!({"defaultName": "busybox", "packages": [bb], "exec": ["/bin/sh", "-c", "echo hi"]});
    for (k, v) in spec.as_object().unwrap() {
        aci[k] = v.clone();
    }
    let attrs = json!({
        "outputs": {"out": "/unused"},
        "system": "x86_64-linux",
        "storeDir": store.to_str().unwrap(),
        "closure": [{"path": bb, "narHash": nar_hash(&bb), "narSize": 1, "references": []}],
        "mkaci": MKACI,
        "aci": aci,
    });
    let file = t.join(format!("{name}.attrs.json"));
    std::fs::write(&file, serde_json::to_vec(&attrs).unwrap()).unwrap();
    let out = t.join(name);
    let o = Command::new(MKACI).arg("build").arg("--attrs").arg(&file).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "mkaci build: {}", stderr(&o));
    out
}

/// The NAR hash Nix would record for a store path of the fake store.
fn nar_hash(path: &str) -> String {
    mkaci::nix::nar::nar_hash_of(Path::new(path)).unwrap().to_string()
}

fn index(result: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(result.join("nix2aci.json")).unwrap()).unwrap()
}

#[test]
fn built_fat_and_thin_results_publish_sign_and_verify() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let fat = build(t.path(), "fat", json!({"version": "1.35.0"}));
    let thin = build(t.path(), "thin", json!({"version": "1.35.0-thin", "thin": true}));
    for result in [&fat, &thin] {
        let out = home.command(result.join("postprocess.sh")).current_dir(t.path()).output().unwrap();
        assert!(out.status.success(), "{}: {}", result.display(), stderr(&out));
        let img = &index(result)["artifacts"][0];
        let file = img["files"]["image"].as_str().unwrap();
        let aci = t.path().join("ACIs").join(file);
        assert_eq!(std::fs::read_link(&aci).unwrap(), std::fs::canonicalize(result).unwrap().join(file));
        assert!(home.verifies(&t.path().join("ACIs").join(format!("{file}.asc")), &aci));
        if img["storeLayout"] == "thin" {
            let mounts = t.path().join("ACIs").join(img["files"]["mounts"].as_str().unwrap());
            assert!(std::fs::read_to_string(&mounts).unwrap().starts_with("--volume=nix-"));
            assert!(stdout(&out).contains("$(cat ACIs/"), "{}", stdout(&out));
        }
        // The closure SBOM is published beside the image, a link into the result.
        let sbom_file = img["files"]["sbom"].as_str().unwrap();
        let sbom = t.path().join("ACIs").join(sbom_file);
        assert_eq!(std::fs::read_link(&sbom).unwrap(), std::fs::canonicalize(result).unwrap().join(sbom_file));
        assert!(stdout(&out).contains(&format!("Published ACIs/{sbom_file} (the closure SBOM)")), "{}", stdout(&out));
        let v = home.mkaci().arg("verify").arg(&aci).output().unwrap();
        assert!(v.status.success(), "verify {}: {}", aci.display(), stderr(&v));
        assert!(stdout(&v).contains("matches"), "{}", stdout(&v));
        assert!(
            stdout(&v).contains(&format!("closure:   {} matches the pinned sha256-", sbom.display())),
            "{}",
            stdout(&v)
        );
        assert!(stderr(&v).is_empty(), "{}", stderr(&v));
    }
}

/// `mkaci verify` checks the published SBOM against the manifest's pin: a
/// missing or changed one fails, naming the file, both hashes and the fix.
#[test]
fn verify_checks_the_published_sbom() {
    if !need("gpg") {
        return;
    }
    let (home, _t, result, dir) = published_busybox();
    let aci = dir.join("busybox-1.0-linux-amd64.aci");
    let sbom = dir.join("busybox-1.0-linux-amd64.closure.json");
    let bytes = std::fs::read(&sbom).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(result.join("busybox-1.0-linux-amd64.manifest")).unwrap()).unwrap();
    let pin =
        manifest["annotations"].as_array().unwrap().iter().find(|a| a["name"] == "nix2aci.org/closure-sha256").unwrap()
            ["value"]
            .as_str()
            .unwrap()
            .to_string();
    let verify = || home.mkaci().arg("verify").arg(&aci).output().unwrap();
    assert!(verify().status.success());

    std::fs::remove_file(&sbom).unwrap();
    assert_fails_with(&verify(), &[&sbom.display().to_string(), &pin, "cannot be read", "postprocess.sh"]);

    let mut changed = bytes.clone();
    let at = changed.len() - 3;
    changed[at] ^= 0x01;
    std::fs::write(&sbom, &changed).unwrap();
    let actual = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(&changed);
        format!("sha256-{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    assert_fails_with(&verify(), &[&sbom.display().to_string(), &pin, &actual, "was changed", "postprocess.sh"]);

    // postprocess.sh again puts the result's SBOM back.
    let out = home.mkaci().arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&sbom).unwrap(), bytes);
    assert!(verify().status.success());
}

#[test]
fn built_result_without_version_and_with_sign_false() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::None);
    let t = tempfile::tempdir().unwrap();
    let result = build(t.path(), "r", json!({"sign": false}));
    let img = &index(&result)["artifacts"][0];
    assert_eq!(img["sign"], json!(false));
    assert_eq!(img["version"], Value::Null, "{img}");
    let dir = t.path().join("out");
    // No key is needed for an unsigned image.
    let out = home.mkaci().arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let file = img["files"]["image"].as_str().unwrap();
    assert!(dir.join(file).exists());
    assert!(!dir.join(format!("{file}.asc")).exists());
    assert!(!dir.join("pubkeys.gpg").exists());
}

/// Republishing the file name from a result without an SBOM (an older
/// mkaci's) removes the SBOM of the earlier image; verify then says the
/// image pins none.
#[test]
fn a_result_without_sbom_drops_the_stale_one() {
    if !need("gpg") {
        return;
    }
    let (home, t, _result, dir) = published_busybox();
    let sbom = dir.join("busybox-1.0-linux-amd64.closure.json");
    assert!(sbom.exists());
    let old = make_result(t.path(), "old", &[Img::fat("busybox")]);
    let out = home.mkaci().arg("postprocess").arg(&dir).arg(&old).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sbom.symlink_metadata().is_err(), "the stale SBOM is still there");
    let v = home.mkaci().arg("verify").arg(dir.join("busybox-1.0-linux-amd64.aci")).output().unwrap();
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(stdout(&v).contains("closure:   no SBOM pinned"), "{}", stdout(&v));
}
