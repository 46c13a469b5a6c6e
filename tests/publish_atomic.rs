//! A postprocess that fails part-way leaves DIR (and SITE) as they were, and
//! one killed part-way leaves every image in DIR whole and signed by a key
//! in `pubkeys.gpg`, and the next run completes it. The failures are real:
//! a file made immutable (`chattr +i`) where a step must rename, a gpg that
//! fails on its second signature, SIGKILL at spread-out moments.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Files made immutable, made mutable again on drop (or the temporary
/// directory could not be removed).
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// `None` when this file system or user cannot set the flag.
    fn set(paths: &[PathBuf]) -> Option<Immutable> {
        if !need("chattr") {
            return None;
        }
        let mut set = Immutable(Vec::new());
        for p in paths {
            let ok = Command::new("chattr").arg("+i").arg(p).status().unwrap().success();
            if !ok {
                if std::env::var("NIX2ACI_REQUIRE_TOOLS").as_deref() == Ok("1") {
                    panic!("chattr +i {} failed: the tests need root on a file system with the flag", p.display());
                }
                eprintln!("skipped: chattr +i {} failed (not root, or no such flag here)", p.display());
                return None;
            }
            set.0.push(p.clone());
        }
        Some(set)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
    }
}

/// Each `X.asc` in `dir` verifies `X` with the keys in `dir/pubkeys.gpg`
/// alone (a fresh keyring); returns how many there are.
fn signatures_verify_with_dir_keys(dir: &Path) -> usize {
    let ascs: Vec<String> = listing(dir).into_iter().filter(|n| n.ends_with(".asc")).collect();
    if ascs.is_empty() {
        return 0;
    }
    let keys = dir.join("pubkeys.gpg");
    assert!(keys.is_file(), "{ascs:?} in {} without pubkeys.gpg", dir.display());
    let fresh = GpgHome::new(KeyKind::None);
    assert!(fresh.gpg().arg("--import").arg(&keys).output().unwrap().status.success());
    for asc in &ascs {
        let image = dir.join(asc.strip_suffix(".asc").unwrap());
        assert!(fresh.verifies(&dir.join(asc), &image), "{asc} does not verify {}", image.display());
    }
    ascs.len()
}

fn with_content(img: Img, content: &str) -> Img {
    Img { content: Box::leak(content.to_string().into_boxed_str()), ..img }
}

/// A write that fails part-way through the renames (the old signature of
/// the second image is immutable, so it cannot be moved aside) puts back
/// every file the run had already renamed: DIR is exactly as before, and
/// the same run completes once the file can be moved.
#[test]
fn a_write_error_part_way_puts_dir_back_as_it_was() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (Img::fat("example.com/a"), Img::thin("example.com/b"));
    for copy in [false, true] {
        let extra: &[&str] = if copy { &["--copy"] } else { &[] };
        let dir = t.path().join(format!("ACIs-{copy}"));
        let old = make_result(t.path(), &format!("old-{copy}"), &[a.clone(), b.clone()]);
        assert!(home.postprocess(&dir, &[&old], extra).status.success());
        let new = make_result(
            t.path(),
            &format!("new-{copy}"),
            &[with_content(a.clone(), "two"), with_content(b.clone(), "two")],
        );
        let before = snapshot(&dir);
        let Some(guard) = Immutable::set(&[dir.join(format!("{}.asc", b.file()))]) else { return };
        let o = home.postprocess(&dir, &[&new], extra);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_fails_with(&o, &[&format!("{}.asc", b.file())]);
        assert_eq!(snapshot(&dir), before, "copy={copy}: DIR changed");
        drop(guard);
        let o = home.postprocess(&dir, &[&new], extra);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(signatures_verify_with_dir_keys(&dir), 2);
        if !copy {
            assert_eq!(std::fs::read_link(dir.join(b.file())).unwrap(), new.join(b.file()));
        }
        assert!(listing(&dir).iter().all(|n| !n.starts_with('.')), "{:?}", listing(&dir));
    }
}

/// A site that cannot be written (a page that must change is immutable)
/// fails the run after DIR was written: DIR and SITE are both put back.
#[test]
fn a_site_write_error_puts_dir_and_site_back() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (dir, site) = (t.path().join("ACIs"), t.path().join("site"));
    let site_args = ["--site", site.to_str().unwrap(), "--base-url", "http://localhost/"];
    let first = make_result(t.path(), "first", &[Img::fat("localhost/a")]);
    assert!(home.postprocess(&dir, &[&first], &site_args).status.success());
    // A new version of a and a new image c: the root page lists c.
    let second = make_result(
        t.path(),
        "second",
        &[Img { version: "2.0", ..with_content(Img::fat("localhost/a"), "two") }, Img::fat("localhost/c")],
    );
    let (dir_before, site_before) = (snapshot(&dir), snapshot(&site));
    let Some(guard) = Immutable::set(&[site.join("index.html")]) else { return };
    let o = home.postprocess(&dir, &[&second], &site_args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_fails_with(&o, &["index.html"]);
    assert_eq!(snapshot(&dir), dir_before, "DIR changed");
    assert_eq!(snapshot(&site), site_before, "SITE changed");
    drop(guard);
    let o = home.postprocess(&dir, &[&second], &site_args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(signatures_verify_with_dir_keys(&dir), 3);
    let root = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(root.contains("localhost/c</a>"), "{root}");
}

/// gpg failing on the second signature of a run: nothing is written.
#[test]
fn gpg_failing_on_the_second_signature_changes_nothing() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ACIs");
    let (a, b) = (Img::fat("example.com/a"), Img::fat("example.com/b"));
    let old = make_result(t.path(), "old", &[a.clone(), b.clone()]);
    assert!(home.postprocess(&dir, &[&old], &[]).status.success());
    let new = make_result(t.path(), "new", &[with_content(a, "two"), with_content(b, "two")]);
    let count = t.path().join("signatures");
    let gpg = t.path().join("gpg-fails-second");
    let real = which("gpg");
    std::fs::write(
        &gpg,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --detach-sign \"*)\n  n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); \
             echo $n > {count}\n  if [ $n -ge 2 ]; then echo 'gpg: signing failed: no more (test)' >&2; exit 2; fi;;\nesac\n\
             exec {real} \"$@\"\n",
            count = count.display(),
            real = real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gpg, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(&dir);
    let o = home.postprocess(&dir, &[&new], &["--gpg", gpg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_fails_with(&o, &["no more (test)"]);
    assert!(std::fs::read_to_string(&count).unwrap().trim().parse::<u32>().unwrap() >= 2);
    assert_eq!(snapshot(&dir), before, "DIR changed");
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file()).unwrap()
}

/// Killed at moments spread over a run that republishes two images (copies
/// of about 8 MiB each): after every kill, each image in DIR is whole (the
/// old or the new one) and every signature there verifies with the keys in
/// `pubkeys.gpg`; the same run then completes DIR, with no temporary left.
#[test]
fn a_run_killed_at_any_point_leaves_every_image_whole_and_the_next_run_completes() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ACIs");
    let noise = |n: usize| -> String {
        let mut bytes = vec![0u8; n];
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
        hex(&bytes)
    };
    let imgs = |tag: &str| {
        ["example.com/a", "example.com/b"].map(|n| with_content(Img::fat(n), &format!("{tag}{}", noise(4 << 20))))
    };
    let old = make_result(t.path(), "old", &imgs("old"));
    let new = make_result(t.path(), "new", &imgs("new"));
    let files: Vec<String> = imgs("x").iter().map(Img::file).collect();
    let hash = |p: &Path| hex(&<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(p).unwrap()));
    // How long a whole run takes here: the kills are spread over it.
    let start = std::time::Instant::now();
    assert!(home.postprocess(&dir, &[&new], &["--copy"]).status.success());
    let whole = start.elapsed();
    let (mut as_before, mut complete, mut between) = (0, 0, 0);
    let rounds = 16u32;
    for round in 0..rounds {
        assert!(home.postprocess(&dir, &[&old], &["--copy"]).status.success());
        let before = snapshot(&dir);
        let mut child = home
            .mkaci()
            .args(["postprocess", "--copy", "--"])
            .arg(&dir)
            .arg(&new)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * round / (rounds - 4));
        let _ = child.kill();
        let killed = !child.wait().unwrap().success();
        let visible: Vec<String> = listing(&dir).into_iter().filter(|n| !n.starts_with('.')).collect();
        let mut news = 0;
        for f in &files {
            let h = hash(&dir.join(f));
            assert!(h == hash(&old.join(f)) || h == hash(&new.join(f)), "round {round}: {f} is not whole");
            news += usize::from(h == hash(&new.join(f)));
        }
        signatures_verify_with_dir_keys(&dir);
        let mut without_hidden = snapshot(&dir);
        without_hidden.retain(|k, _| !k.starts_with('.'));
        if without_hidden == before {
            as_before += 1;
        } else if news == files.len() && visible.len() == 5 && !killed {
            complete += 1;
        } else {
            between += 1;
        }
        let o = home.postprocess(&dir, &[&new], &["--copy"]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        assert_eq!(signatures_verify_with_dir_keys(&dir), 2);
        for f in &files {
            assert_eq!(hash(&dir.join(f)), hash(&new.join(f)), "round {round}");
        }
        assert!(listing(&dir).iter().all(|n| !n.starts_with('.')), "round {round}: {:?}", listing(&dir));
    }
    eprintln!(
        "a run takes {whole:?}; of {rounds} killed: {as_before} left DIR as before, {complete} completed, \
         {between} stopped between (each image whole)"
    );
    assert!(as_before > 0, "no kill came before the commit: the rounds are too slow");
}

/// Links into the store are registered as indirect GC roots under their
/// final names; a run put back after a failure leaves no root to a link it
/// made (the root names a path that is gone, which Nix drops).
#[test]
fn links_into_the_store_are_rooted_and_a_run_put_back_roots_nothing() {
    if !need("gpg") || !need("nix-store") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let add = |r: &Path| -> PathBuf {
        let o = Command::new("nix-store").arg("--add").arg(r).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        PathBuf::from(stdout(&o).trim())
    };
    let (a, c) = (Img::fat("example.com/a"), Img::fat("example.com/c"));
    let old = add(&make_result(t.path(), "old", std::slice::from_ref(&a)));
    // c comes first: its new link is made and registered before a's step fails.
    let new = add(&make_result(t.path(), "new", &[c.clone(), with_content(a.clone(), "two")]));
    let dir = t.path().join("ACIs");
    let o = home.postprocess(&dir, &[&old], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(a GC root)"), "{}", stdout(&o));
    let roots_to = |link: &Path| -> usize {
        let auto = Path::new("/nix/var/nix/gcroots/auto");
        std::fs::read_dir(auto)
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == link))
            .count()
    };
    assert_eq!(roots_to(&dir.join(a.file())), 1);
    let before = snapshot(&dir);
    let Some(guard) = Immutable::set(&[dir.join(format!("{}.asc", a.file()))]) else { return };
    let o = home.postprocess(&dir, &[&new], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(snapshot(&dir), before);
    // A root of c's link may be registered; it names nothing now.
    assert!(!dir.join(c.file()).exists());
    drop(guard);
    let o = home.postprocess(&dir, &[&new], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [a.file(), c.file()] {
        assert_eq!(roots_to(&dir.join(&f)), 1, "{f}");
        assert_eq!(std::fs::read_link(dir.join(&f)).unwrap(), new.join(&f));
    }
    assert_eq!(signatures_verify_with_dir_keys(&dir), 2);
}
