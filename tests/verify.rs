//! `mkaci verify DIR/<image>.aci` on images published by `mkaci postprocess`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Publishes one image into `t/ACIs` and returns (result dir, DIR/<image>.aci).
fn published(home: &GpgHome, t: &Path, img: &Img) -> (PathBuf, PathBuf) {
    let result = make_result(t, "result", std::slice::from_ref(img));
    let dir = t.join("ACIs");
    let out = home.mkaci().arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (result, dir.join(img.file()))
}

fn verify(home: &GpgHome, image: &Path) -> std::process::Output {
    home.mkaci().arg("verify").arg(image).output().unwrap()
}

/// A plain copy of the published image and its signature in `to`.
fn copy_published(aci: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    let name = aci.file_name().unwrap();
    let copy = to.join(name);
    std::fs::copy(aci, &copy).unwrap();
    let mut asc = aci.as_os_str().to_owned();
    asc.push(".asc");
    let mut asc_copy = copy.as_os_str().to_owned();
    asc_copy.push(".asc");
    std::fs::copy(asc, asc_copy).unwrap();
    copy
}

#[test]
fn a_published_image_verifies() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (result, aci) = published(&home, t.path(), &Img::fat("busybox"));
    let out = verify(&home, &aci);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("signature: good") && text.contains(&home.fingerprint()), "{text}");
    assert!(text.contains("layout:    ok (gzip"), "{text}");
    assert!(text.contains("manifest:  ok (busybox 1.0)"), "{text}");
    let id = std::fs::read_to_string(result.join("busybox-1.0-linux-amd64.id")).unwrap();
    assert!(text.contains(&format!("image ID:  {}", id.trim_end())), "{text}");
    assert!(text.contains(&format!("matches {}", result.join("busybox-1.0-linux-amd64.id").display())), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn a_tampered_copy_is_caught() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (_, aci) = published(&home, t.path(), &Img::fat("busybox"));
    // An untouched copy verifies: the check is about the bytes, not the path.
    let copy = copy_published(&aci, &t.path().join("copy"));
    assert!(verify(&home, &copy).status.success());
    // One byte changed.
    let tampered = copy_published(&aci, &t.path().join("tampered"));
    let mut bytes = std::fs::read(&tampered).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    let out = verify(&home, &tampered);
    assert_fails_with(&out, &["does not match", "BAD signature", "changed after signing"]);
}

#[test]
fn a_missing_signature_is_reported() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img { sign: false, ..Img::fat("busybox") };
    let (_, aci) = published(&home, t.path(), &img);
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["has no signature", ".aci.asc", "postprocess.sh"]);
    let out = verify(&home, &t.path().join("ACIs/nothing-here.aci"));
    assert_fails_with(&out, &["does not exist", "nothing-here.aci"]);
}

#[test]
fn an_unknown_signer_names_the_key_file_to_import() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (_, aci) = published(&home, t.path(), &Img::fat("busybox"));
    let fresh = GpgHome::new(KeyKind::None);
    let out = verify(&fresh, &aci);
    let keyfile = aci.with_file_name("pubkeys.gpg");
    assert_fails_with(
        &out,
        &["not in your keyring", &format!("gpg --import {}", keyfile.display()), "--trust PREFIX="],
    );
    // Imported, the key is known but not valid: a good signature is still
    // refused, naming the key and how to trust it.
    assert!(fresh.gpg().arg("--import").arg(&keyfile).output().unwrap().status.success());
    let out = verify(&fresh, &aci);
    let fpr = home.fingerprint();
    assert_fails_with(
        &out,
        &["is a good signature", &fpr, "undefined validity", "--trust PREFIX=", &format!("gpg --lsign-key {fpr}")],
    );
    // Ultimately trusted in gpg, it verifies.
    let mut trust = fresh.gpg().arg("--import-ownertrust").stdin(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    trust.stdin.take().unwrap().write_all(format!("{fpr}:6:\n").as_bytes()).unwrap();
    assert!(trust.wait().unwrap().success());
    let out = verify(&fresh, &aci);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("a key your keyring holds ultimately trusted"), "{}", stdout(&out));
}

/// `mkaci verify --trust` with each argument, in a keyring that does not
/// hold the signer's key.
fn verify_trusting(home: &GpgHome, image: &Path, trust: &[String]) -> std::process::Output {
    let mut c = home.mkaci();
    c.arg("verify");
    for t in trust {
        c.arg("--trust").arg(t);
    }
    c.arg(image).output().unwrap()
}

#[test]
fn a_key_file_is_trusted_for_its_prefix_only() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (_, aci) = published(&home, t.path(), &Img::fat("example.com/busybox"));
    let keyfile = aci.with_file_name("pubkeys.gpg");
    let fresh = GpgHome::new(KeyKind::None);
    let k = keyfile.display();
    for prefix in ["example.com/busybox", "example.com", "example.com/"] {
        let out = verify_trusting(&fresh, &aci, &[format!("{prefix}={k}")]);
        assert!(out.status.success(), "{prefix}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("trusted for {} by --trust {k}", prefix.trim_end_matches('/'))));
    }
    // Whole components only, and not another name.
    for prefix in ["example.co", "example.com/busy", "other.org"] {
        let out = verify_trusting(&fresh, &aci, &[format!("{prefix}={k}")]);
        assert_fails_with(
            &out,
            &["example.com/busybox", "trusted only for the names under", prefix, &home.fingerprint()],
        );
    }
    // A key file without the signer's key does not help.
    let other = GpgHome::new(KeyKind::Ed25519);
    let other_keys = t.path().join("other.gpg");
    let exp = other.gpg().args(["--armor", "--export"]).output().unwrap();
    std::fs::write(&other_keys, exp.stdout).unwrap();
    let out = verify_trusting(&fresh, &aci, &[format!("example.com={}", other_keys.display())]);
    assert_fails_with(&out, &["not in your keyring"]);
    // Nothing was imported into the user's keyring.
    let keys = fresh.gpg().args(["--with-colons", "--list-keys"]).output().unwrap();
    assert!(!stdout(&keys).contains("fpr:"), "{}", stdout(&keys));
    // Malformed --trust values are refused by the command line.
    for bad in ["example.com", "=x.gpg", "example.com="] {
        let out = verify_trusting(&fresh, &aci, &[bad.to_string()]);
        assert!(!out.status.success() && stderr(&out).contains("is not PREFIX=KEYFILE"), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn an_eddsa_signature_verifies_with_a_warning() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Ed25519);
    let t = tempfile::tempdir().unwrap();
    let (_, aci) = published(&home, t.path(), &Img::fat("busybox"));
    let out = verify(&home, &aci);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("mkaci: warning:") && stderr(&out).contains("EdDSA"), "{}", stderr(&out));
}

/// Signs `file` directly with gpg, as postprocess would.
fn sign(home: &GpgHome, file: &Path) {
    let mut asc = file.as_os_str().to_owned();
    asc.push(".asc");
    let out = home.gpg().args(["--armor", "--detach-sign", "--output"]).arg(&asc).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn manifest_json(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": [
            {"name": "version", "value": "1.0"},
            {"name": "os", "value": "linux"},
            {"name": "arch", "value": "amd64"}
        ],
        "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}
    }))
    .unwrap()
}

#[test]
fn a_signed_image_with_a_bad_layout_is_caught() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let aci = t.path().join("busybox-1.0-linux-amd64.aci");
    make_aci(&aci, &manifest_json("busybox"), "hi", &["extra"]);
    sign(&home, &aci);
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["is signed but its archive is not a valid ACI", "\"extra\"", "top level"]);
}

#[test]
fn a_signed_image_with_a_bad_manifest_is_caught() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let aci = t.path().join("busybox-1.0-linux-amd64.aci");
    make_aci(&aci, &manifest_json("Busy//Box"), "hi", &[]);
    sign(&home, &aci);
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["manifest breaks the appc rules", "Busy//Box"]);
}

#[test]
fn a_recorded_id_that_does_not_match_is_caught() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (result, aci) = published(&home, t.path(), &Img::fat("busybox"));
    let id_file = result.join("busybox-1.0-linux-amd64.id");
    let id = std::fs::read_to_string(&id_file).unwrap().trim_end().to_string();
    let other = format!("sha512-{}", "0".repeat(128));
    std::fs::write(&id_file, format!("{other}\n")).unwrap();
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["has image ID", &id, &other, "busybox-1.0-linux-amd64.id", "changed after it was built"]);
    std::fs::write(&id_file, "sha512-xyz\n").unwrap();
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["image ID file", "is invalid"]);
    // The index is the other record of the ID.
    std::fs::write(&id_file, format!("{id}\n")).unwrap();
    let index_file = result.join("nix2aci.json");
    let index = std::fs::read_to_string(&index_file).unwrap().replace(&id, &other);
    std::fs::write(&index_file, index).unwrap();
    let out = verify(&home, &aci);
    assert_fails_with(&out, &["has image ID", &other, "nix2aci.json"]);
}

#[test]
fn a_dangling_link_is_named_as_such() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (result, aci) = published(&home, t.path(), &Img::fat("busybox"));
    std::fs::remove_dir_all(&result).unwrap();
    for args in [&["verify"][..], &["inspect"][..]] {
        let out = home.mkaci().args(args).arg(&aci).output().unwrap();
        assert_fails_with(&out, &["is a link to", "no longer exists", "garbage collection", "postprocess"]);
    }
}

#[test]
fn a_copy_published_with_copy_verifies() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::thin("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = home.mkaci().arg("postprocess").arg("--copy").arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Copied"), "{}", stdout(&out));
    let aci = dir.join(img.file());
    let mounts = dir.join("busybox-1.0-linux-amd64.mounts");
    for f in [&aci, &mounts] {
        assert!(std::fs::symlink_metadata(f).unwrap().is_file(), "{} is not a regular file", f.display());
    }
    assert_eq!(std::fs::read(&aci).unwrap(), std::fs::read(result.join(img.file())).unwrap());
    std::fs::remove_dir_all(&result).unwrap();
    let out = verify(&home, &aci);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("matches"), "{}", stdout(&out));
}

#[test]
fn a_renamed_image_verifies_with_a_warning() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let aci = t.path().join("renamed.aci");
    make_aci(&aci, &manifest_json("example.com/busybox"), "hi", &[]);
    sign(&home, &aci);
    let out = verify(&home, &aci);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("busybox-1.0-linux-amd64.aci"), "{}", stderr(&out));
}
