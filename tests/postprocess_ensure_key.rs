//! scripts/ensure-signing-key: makes a key only when there is none, and the
//! key it makes signs images rkt can verify (RSA).

mod common;

use std::process::Command;

use common::*;

fn ensure(home: &GpgHome) -> std::process::Output {
    home.command(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-signing-key")).output().unwrap()
}

fn secret_keys(home: &GpgHome) -> Vec<String> {
    let out = home.gpg().args(["--with-colons", "--list-secret-keys"]).output().unwrap();
    stdout(&out).lines().filter(|l| l.starts_with("sec:")).map(String::from).collect()
}

#[test]
fn creates_an_rsa_key_once_and_postprocess_signs_with_it() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::None);
    let out = ensure(&home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created a local RSA signing key"), "{}", stdout(&out));
    let keys = secret_keys(&home);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].split(':').nth(3), Some("1"), "RSA: {}", keys[0]);
    assert!(stdout(&out).contains(&home.fingerprint()));

    let again = ensure(&home);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), "", "nothing to do the second time");
    assert_eq!(secret_keys(&home), keys);

    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let pp = home.mkaci().arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert!(pp.status.success(), "{}", stderr(&pp));
    assert!(home.verifies(&dir.join(format!("{}.asc", img.file())), &dir.join(img.file())));
}

#[test]
fn leaves_an_existing_key_alone() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Ed25519);
    let before = secret_keys(&home);
    let out = ensure(&home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(secret_keys(&home), before);
}

#[test]
fn creates_a_missing_gnupghome() {
    if !need("gpg") {
        return;
    }
    let t = tempfile::Builder::new().prefix("gh").tempdir_in("/tmp").unwrap();
    let home_dir = t.path().join("g");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-signing-key"))
        .env("GNUPGHOME", &home_dir)
        .env_remove("MKACI_GPG")
        .output()
        .unwrap();
    let _ = Command::new("gpgconf").env("GNUPGHOME", &home_dir).args(["--kill", "gpg-agent"]).output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created a local RSA signing key"));
}
