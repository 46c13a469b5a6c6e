//! The NAR hasher against Nix itself: for real store paths, our hash equals
//! the narHash Nix recorded (`nix-store -q --hash`) and the SHA-256 of
//! `nix-store --dump`. The test adds a store path of each kind itself, so
//! that it checks something on a machine whose store is empty.

mod common;
use common::need;

use std::path::Path;
use std::process::Command;

use mkaci::nix::nar::{nar_hash_of, NarHash};
use sha2::{Digest, Sha256};

fn nix_store(args: &[&str]) -> Vec<u8> {
    let o = Command::new("nix-store").args(args).output().unwrap();
    assert!(o.status.success(), "nix-store {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// Adds a directory (with a file, an executable, a symlink and a
/// subdirectory), a file and a symlink to the store, so that the test has
/// each kind at the top even on a machine whose store is empty.
fn own_store_paths() -> Vec<String> {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dir = t.join("mkaci-nar-test-dir");
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("file"), b"contents\n").unwrap();
    std::fs::write(dir.join("sub/run"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("sub/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    symlink("../file", dir.join("sub/link")).unwrap();
    std::fs::write(t.join("mkaci-nar-test-file"), vec![7u8; 70_000]).unwrap();
    symlink("/nowhere", t.join("mkaci-nar-test-link")).unwrap();
    ["mkaci-nar-test-dir", "mkaci-nar-test-file", "mkaci-nar-test-link"]
        .iter()
        .map(|n| {
            let out = nix_store(&["--add", t.join(n).to_str().unwrap()]);
            String::from_utf8(out).unwrap().trim().to_string()
        })
        .collect()
}

#[test]
fn nar_hash_matches_nix_on_real_store_paths() {
    if !need("nix-store") {
        return;
    }
    let mut checked = 0;
    let mut kinds = [false; 3]; // directory, regular file, symlink at the top
    let own = own_store_paths();
    let others = std::fs::read_dir("/nix/store").unwrap().map(|e| e.unwrap().path().to_str().unwrap().to_string());
    for p in own.iter().cloned().chain(others) {
        let p = p.as_str();
        let valid = || {
            let mut c = Command::new("nix-store");
            c.args(["--check-validity", p]).stderr(std::process::Stdio::null());
            c.status().map(|s| s.success()).unwrap_or(false)
        };
        if p.ends_with(".lock") || !valid() {
            continue;
        }
        let recorded = String::from_utf8(nix_store(&["-q", "--hash", p])).unwrap();
        let recorded = NarHash::parse(recorded.trim()).unwrap();
        let ours = nar_hash_of(Path::new(p)).unwrap();
        assert_eq!(ours, recorded, "{p}");
        let dump = nix_store(&["--dump", p]);
        assert_eq!(ours.as_bytes()[..], Sha256::digest(&dump)[..], "{p}: nix-store --dump");
        let m = std::fs::symlink_metadata(p).unwrap();
        kinds[if m.is_dir() {
            0
        } else if m.is_file() {
            1
        } else {
            2
        }] = true;
        checked += 1;
        if checked == 40 {
            break;
        }
    }
    eprintln!("checked {checked} store paths (directory, file, symlink at the top: {kinds:?})");
    assert_eq!(kinds, [true; 3], "the store paths this test added are each kind");
}
