//! `mkaci postprocess --site SITE --base-url URL` from the command line: real
//! gpg, hand-made results (tests/common). The site's own rules are unit
//! tested in `src/publish/site.rs`; here, what only the command line
//! does: the site is checked before DIR is written, the flags come together,
//! and the printed rkt lines. `tests/e2e/site.sh` serves a site to the real rkt.

mod common;

use std::path::Path;

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
