//! The NAR hasher against Nix itself: for real store paths, our hash equals
//! the narHash Nix recorded (`nix-store -q --hash`) and the SHA-256 of
//! `nix-store --dump`.

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

#[test]
fn nar_hash_matches_nix_on_real_store_paths() {
    if !need("nix-store") {
        return;
    }
    let mut checked = 0;
    let mut kinds = [false; 3]; // directory, regular file, symlink at the top
    for e in std::fs::read_dir("/nix/store").unwrap() {
        let path = e.unwrap().path();
        let p = path.to_str().unwrap();
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
    assert!(checked > 0, "no valid store path found in /nix/store");
}
