//! `mkaci postprocess --site SITE --base-url URL` from the command line: real
//! gpg, hand-made results (tests/common). The site's own rules are unit
//! tested in `src/publish/site.rs`; here, what only the command line
//! does: the site is checked before DIR is written, the flags come together,
//! and the printed rkt lines. `tests/e2e/site.sh` serves a site to the real rkt.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::*;

fn postprocess(home: &GpgHome, dir: &Path, site: &Path, base: &str, results: &[&Path]) -> std::process::Output {
    home.mkaci()
        .arg("postprocess")
        .arg("--site")
        .arg(site)
        .arg("--base-url")
        .arg(base)
        .arg("--")
        .arg(dir)
        .args(results)
        .output()
        .unwrap()
}

#[test]
fn the_site_holds_copies_signatures_that_verify_and_the_key() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("example.com/aci/busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let (dir, site) = (t.path().join("ACIs"), t.path().join("site"));
    let out = postprocess(&home, &dir, &site, "https://example.com/aci", &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let aci = site.join("_aci/example.com/aci/busybox-1.0-linux-amd64.aci");
    assert!(!aci.symlink_metadata().unwrap().file_type().is_symlink(), "a copy, not a link");
    assert_eq!(std::fs::read(&aci).unwrap(), std::fs::read(result.join(img.file())).unwrap());
    assert!(home.verifies(&aci.with_extension("aci.asc"), &aci));
    let key = site.join(format!("_keys/{}.gpg", home.fingerprint()));
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let page = std::fs::read_to_string(site.join("busybox/index.html")).unwrap();
    assert!(page.contains(&format!(
        "<meta name=\"ac-discovery-pubkeys\" content=\"example.com/aci/busybox https://example.com/aci/_keys/{}.gpg\">",
        home.fingerprint()
    )));
    let text = stdout(&out);
    // https: no insecure option at all.
    for line in ["sudo rkt trust --prefix=example.com/aci ", "sudo rkt run example.com/aci/busybox:1.0"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(line)), "{line:?} not in {text}");
    }
    // Again: nothing written, and it says so.
    let out = postprocess(&home, &dir, &site, "https://example.com/aci/", &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(": 0 files written"), "{}", stdout(&out));
}

#[test]
fn a_refused_site_leaves_dir_untouched() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("localhost/busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let site = t.path().join("site");
    let out = postprocess(&home, &t.path().join("ACIs"), &site, "http://localhost/", &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index = std::fs::read(site.join("_site.json")).unwrap();

    // Another image under the same name and labels.
    let other = make_result(t.path(), "other", &[Img { content: "changed", ..img.clone() }]);
    let id = |r: &Path| std::fs::read_to_string(r.join(format!("{}.id", img.base()))).unwrap().trim().to_string();
    let dir = t.path().join("ACIs-other");
    let out = postprocess(&home, &dir, &site, "http://localhost/", &[&other]);
    assert_fails_with(
        &out,
        &["localhost/busybox", "version=1.0, os=linux, arch=amd64", &id(&result), &id(&other), "another version"],
    );
    assert!(!dir.exists(), "DIR was written");
    assert_eq!(std::fs::read(site.join("_site.json")).unwrap(), index);

    // A name the base URL cannot answer.
    let out = postprocess(&home, &dir, &t.path().join("sub"), "http://localhost/sub/", &[&result]);
    assert_fails_with(&out, &["cannot publish localhost/busybox", "--base-url http://localhost/sub/"]);
    assert!(!dir.exists() && !t.path().join("sub").exists());

    // A bad base URL.
    let out = postprocess(&home, &dir, &t.path().join("sub"), "http://localhost:8080/", &[&result]);
    assert_fails_with(&out, &["--base-url \"http://localhost:8080/\"", "port"]);
    assert!(!dir.exists() && !t.path().join("sub").exists());
}

#[test]
fn site_and_base_url_come_together() {
    let t = tempfile::tempdir().unwrap();
    for args in [["--site", "s"], ["--base-url", "http://localhost/"]] {
        let out = std::process::Command::new(MKACI)
            .arg("postprocess")
            .args(args)
            .arg("--")
            .arg(t.path().join("ACIs"))
            .arg(t.path().join("result"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let other = if args[0] == "--site" { "--base-url" } else { "--site" };
        assert!(stderr(&out).contains(other), "{}", stderr(&out));
    }
}

/// The images `_site.json` lists, as their files.
fn listed(site: &Path) -> Vec<String> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(site.join("_site.json")).unwrap()).unwrap();
    let mut files: Vec<String> =
        index["images"].as_array().unwrap().iter().map(|h| h["file"].as_str().unwrap().to_string()).collect();
    files.sort();
    files
}

const NAMES: [&str; 10] = [
    "localhost/a0",
    "localhost/a1",
    "localhost/a2",
    "localhost/a3",
    "localhost/a4",
    "localhost/a5",
    "localhost/a6",
    "localhost/a7",
    "localhost/a8",
    "localhost/a9",
];

#[test]
fn ten_concurrent_publishers_list_all_ten_images() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let site = t.path().join("site");
    let results: Vec<_> =
        NAMES.iter().enumerate().map(|(i, n)| make_result(t.path(), &format!("r{i}"), &[Img::fat(n)])).collect();
    let children: Vec<_> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            home.mkaci()
                .arg("postprocess")
                .arg("--site")
                .arg(&site)
                .args(["--base-url", "http://localhost/", "--"])
                .arg(t.path().join(format!("ACIs{i}")))
                .arg(r)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let want: Vec<String> = NAMES.iter().map(|n| format!("_aci/{n}-1.0-linux-amd64.aci")).collect();
    assert_eq!(listed(&site), want);
    for f in &want {
        assert!(home.verifies(&site.join(format!("{f}.asc")), &site.join(f)), "{f}");
    }
    let root = std::fs::read_to_string(site.join("index.html")).unwrap();
    for n in NAMES {
        assert!(root.contains(&format!(">{n}<")), "{n} not on the root page");
    }
}

/// A publisher killed at any point leaves a site that the next publisher
/// reads (a valid `_site.json`, no half-written file under its final name),
/// and running the same publish again completes it.
#[test]
fn a_publisher_killed_part_way_leaves_a_site_the_next_run_completes() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let site = t.path().join("site");
    // One image published first, so that the site exists in every round.
    let first = make_result(t.path(), "first", &[Img::fat("localhost/first")]);
    assert!(postprocess(&home, &t.path().join("ACIs"), &site, "http://localhost/", &[&first]).status.success());
    // Images big enough that signing and copying them takes a while: 8 MiB
    // of random hex in the rootfs (about 4 MiB of gzip).
    let mut sources = std::collections::BTreeMap::new();
    sources.insert("_aci/localhost/first-1.0-linux-amd64.aci".to_string(), first.join("first-1.0-linux-amd64.aci"));
    let mut killed_between = 0;
    for round in 0..8u64 {
        let name: &'static str = Box::leak(format!("localhost/big{round}").into_boxed_str());
        let mut noise = vec![0u8; 4 << 20];
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut noise).unwrap();
        let content: &'static str = Box::leak(hex(&noise).into_boxed_str());
        let r = make_result(t.path(), &format!("big{round}"), &[Img { content, ..Img::fat(name) }]);
        let aci = r.join(format!("big{round}-1.0-linux-amd64.aci"));
        sources.insert(format!("_aci/{name}-1.0-linux-amd64.aci"), aci.clone());
        let dir = t.path().join(format!("ACIs-big{round}"));
        let mut child = home
            .mkaci()
            .arg("postprocess")
            .arg("--site")
            .arg(&site)
            .args(["--base-url", "http://localhost/", "--"])
            .arg(&dir)
            .arg(&r)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(40 * round));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_between += 1;
        }
        // The site reads: its index parses, and every image file it holds
        // under a final name is whole.
        for f in listed(&site) {
            if let Ok(bytes) = std::fs::read(site.join(&f)) {
                assert!(bytes == std::fs::read(&sources[&f]).unwrap(), "round {round}: {f} is not whole");
            }
        }
        // The same publish again completes it.
        let o = postprocess(&home, &dir, &site, "http://localhost/", &[&r]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        let f = format!("_aci/{name}-1.0-linux-amd64.aci");
        assert!(listed(&site).contains(&f));
        assert_eq!(std::fs::read(site.join(&f)).unwrap(), std::fs::read(&aci).unwrap(), "round {round}");
        assert!(home.verifies(&site.join(format!("{f}.asc")), &site.join(&f)));
        let page = std::fs::read_to_string(site.join(format!("big{round}/index.html"))).unwrap();
        assert!(page.contains("ac-discovery-pubkeys"));
        // No temporary file is left in the site.
        let leftover = Command::new("find").arg(&site).args(["-name", ".*"]).output().unwrap();
        assert_eq!(stdout(&leftover), "", "round {round}");
    }
    assert!(killed_between > 0, "no round was killed part-way: make the images bigger");
    assert_eq!(listed(&site).len(), 9);
}
