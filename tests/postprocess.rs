//! `mkaci postprocess` end to end: real gpg, throwaway GNUPGHOMEs, hand-made
//! results following docs/result-layout.md, the binary run as the generated
//! postprocess.sh runs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn postprocess(home: &GpgHome, dir: &Path, results: &[&Path]) -> std::process::Output {
    home.mkaci().arg("postprocess").arg("--").arg(dir).args(results).output().unwrap()
}

#[test]
fn signatures_verify_with_gpg_and_next_commands_are_printed() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("example.com/busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let aci = dir.join(img.file());
    assert_eq!(std::fs::read_link(&aci).unwrap(), result.join(img.file()));
    let asc = dir.join(format!("{}.asc", img.file()));
    assert!(std::fs::read_to_string(&asc).unwrap().starts_with("-----BEGIN PGP SIGNATURE-----"));
    assert!(home.verifies(&asc, &aci));
    assert_eq!(listing(&dir), [img.file(), format!("{}.asc", img.file()), "pubkeys.gpg".into()]);
    let text = stdout(&out);
    let keyfile = dir.join("pubkeys.gpg");
    assert!(text.contains(&format!("sudo rkt trust --prefix=example.com/busybox {}", keyfile.display())), "{text}");
    assert!(text.contains(&format!("sudo rkt run {}", aci.display())), "{text}");
    assert!(text.contains(&home.fingerprint()), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // rkt trust asks for a fingerprint review on a terminal; the line says
    // how to do without one, as a comment that keeps it runnable.
    let trust = text.lines().find(|l| l.contains("rkt trust")).unwrap();
    assert!(trust.contains("# without a terminal (a script): add --skip-fingerprint-review"), "{trust}");
    // The verify line names the mkaci that ran, by its full path, and works as printed.
    let verify = format!("{} verify {}", std::fs::canonicalize(MKACI).unwrap().display(), aci.display());
    assert!(text.lines().any(|l| l.trim() == verify), "{verify:?} not in {text}");
    let ran = home.command("sh").arg("-c").arg(&verify).output().unwrap();
    assert!(ran.status.success(), "{verify}: {}{}", stdout(&ran), stderr(&ran));
}

/// `rkt run` fails without a volume for each of the image's own mount points
/// ("missing volume for mountpoint"), so the printed command has a
/// placeholder for each; a thin image's store mounts come from its `.mounts`.
#[test]
fn next_commands_have_volume_placeholders_for_own_mounts() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let fat = Img { mount_points: &[("data", "/var/lib/data", false), ("www", "/var/www", true)], ..Img::fat("httpd") };
    let thin = Img {
        mount_points: &[
            ("www", "/var/www", true),
            (
                "nix-0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw",
                "/nix/store/0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-busybox-1.36.1",
                true,
            ),
        ],
        ..Img::thin("httpd-thin")
    };
    let result = make_result(t.path(), "result", &[fat.clone(), thin.clone()]);
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let want = format!(
        "sudo rkt run --volume=data,kind=host,source=<HOST_PATH> --volume=www,kind=host,source=<HOST_PATH>,readOnly=true {}",
        dir.join(fat.file()).display()
    );
    assert!(text.lines().any(|l| l.trim() == want), "{want:?} not in {text}");
    let mounts = dir.join(format!("{}.mounts", thin.base()));
    let want = format!(
        "sudo rkt run $(cat {}) --volume=www,kind=host,source=<HOST_PATH>,readOnly=true {}",
        mounts.display(),
        dir.join(thin.file()).display()
    );
    assert!(text.lines().any(|l| l.trim() == want), "{want:?} not in {text}");
    assert!(!text.contains("--volume=nix-"), "the thin store mounts come from .mounts: {text}");
}

#[test]
fn second_run_keeps_a_signature_that_still_holds() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    assert!(postprocess(&home, &dir, &[&result]).status.success());
    let asc = dir.join(format!("{}.asc", img.file()));
    let first = std::fs::read(&asc).unwrap();
    let first_mtime = std::fs::metadata(&asc).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new signature would differ
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The same image and key: the signature is kept as it is, and said so.
    assert_eq!(std::fs::read(&asc).unwrap(), first, "the unchanged image was signed again");
    assert_eq!(std::fs::metadata(&asc).unwrap().modified().unwrap(), first_mtime);
    assert!(stdout(&out).contains("Unchanged: "), "{}", stdout(&out));
    assert!(home.verifies(&asc, &dir.join(img.file())));
    // No temporary names left behind (the key probe included).
    assert_eq!(listing(&dir), [img.file(), format!("{}.asc", img.file()), "pubkeys.gpg".into()]);
    // A signature that no longer verifies (changed bytes) is made again.
    std::fs::write(&asc, b"-----BEGIN PGP SIGNATURE-----\nbroken\n-----END PGP SIGNATURE-----\n").unwrap();
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Signed "), "{}", stdout(&out));
    assert!(home.verifies(&asc, &dir.join(img.file())));

    // A new build of the same image name: relinked, and signed for the new image.
    let t2 = tempfile::tempdir().unwrap();
    let newer = make_result(t2.path(), "result", &[Img { content: "changed", ..img.clone() }]);
    let out = postprocess(&home, &dir, &[&newer]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_link(dir.join(img.file())).unwrap(), newer.join(img.file()));
    assert!(home.verifies(&asc, &dir.join(img.file())));
    assert!(!home.verifies(&asc, &result.join(img.file())));
}

#[test]
fn generated_script_publishes_into_a_custom_dir() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let imgs = [Img::fat("busybox"), Img::thin("busybox-thin")];
    let result = make_result(t.path(), "result", &imgs);
    // Default DIR: ACIs in the working directory.
    let out = home.command(result.join("postprocess.sh")).current_dir(t.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t.path().join("ACIs").join(imgs[0].file()).exists());
    // A custom, nested DIR with a space, and an option passed through.
    let custom = t.path().join("pub lic/images");
    let out =
        home.command(result.join("postprocess.sh")).arg(&custom).arg("--key").arg(home.fingerprint()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for img in &imgs {
        let aci = custom.join(img.file());
        assert!(home.verifies(&custom.join(format!("{}.asc", img.file())), &aci));
    }
    let text = stdout(&out);
    assert!(text.contains(&format!("'{}'", custom.join("pubkeys.gpg").display())), "quoted: {text}");
}

#[test]
fn no_secret_key_fails_clearly_and_writes_nothing() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::None);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&result]);
    // The fix is a command that works wherever the user is, not a path in this repository.
    assert_fails_with(&out, &["no secret key", "gpg --quick-generate-key", "rsa3072 sign never"]);
    assert!(!stderr(&out).contains("scripts/"), "{}", stderr(&out));
    assert!(!dir.exists(), "a failed run leaves no empty {}", dir.display());
    // A nested DIR: none of the directories it made is left.
    let nested = t.path().join("pub/lic/ACIs");
    assert_fails_with(&postprocess(&home, &nested, &[&result]), &["no secret key"]);
    assert!(!t.path().join("pub").exists());
    // An existing empty DIR stays.
    let existing = t.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    assert_fails_with(&postprocess(&home, &existing, &[&result]), &["no secret key"]);
    assert!(existing.is_dir());

    // With earlier good files, they are left alone.
    let keyed = GpgHome::new(KeyKind::Rsa);
    assert!(postprocess(&keyed, &dir, &[&result]).status.success());
    let before: Vec<_> = listing(&dir).iter().map(|n| (n.clone(), std::fs::read(dir.join(n)).unwrap())).collect();
    let t2 = tempfile::tempdir().unwrap();
    let newer = make_result(t2.path(), "result", &[Img { content: "new", ..img.clone() }]);
    let out = postprocess(&home, &dir, &[&newer]);
    assert_fails_with(&out, &["no secret key"]);
    let after: Vec<_> = listing(&dir).iter().map(|n| (n.clone(), std::fs::read(dir.join(n)).unwrap())).collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read_link(dir.join(img.file())).unwrap(), result.join(img.file()));
    assert!(keyed.verifies(&dir.join(format!("{}.asc", img.file())), &dir.join(img.file())));

    // The command the message gives makes a key that signs (run without a
    // prompt here: --batch and an empty passphrase).
    let fresh = GpgHome::new(KeyKind::None);
    let err = stderr(&postprocess(&fresh, &t.path().join("fresh"), &[&result]));
    let cmd = err.split('`').find(|c| c.contains("--quick-generate-key")).unwrap();
    let cmd = cmd.replacen("gpg ", "gpg --batch --passphrase '' ", 1);
    let made = fresh.command("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(made.status.success(), "{cmd}: {}", stderr(&made));
    let out = postprocess(&fresh, &t.path().join("fresh"), &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fresh.verifies(&t.path().join("fresh").join(format!("{}.asc", img.file())), &result.join(img.file())));
}

#[test]
fn unknown_key_fails_clearly() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let result = make_result(t.path(), "result", &[Img::fat("busybox")]);
    let dir = t.path().join("ACIs");
    let out = home
        .mkaci()
        .env("MKACI_SIGN_KEY", "nobody@nowhere.invalid")
        .arg("postprocess")
        .arg(&dir)
        .arg(&result)
        .output()
        .unwrap();
    assert_fails_with(&out, &["no secret key matching \"nobody@nowhere.invalid\"", "--list-secret-keys"]);
    assert!(!dir.exists(), "left {}", dir.display());
}

#[test]
fn sign_false_writes_no_signature_and_needs_no_gpg() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let signed = Img::fat("busybox");
    let dir = t.path().join("ACIs");
    // First a signed build of the same image name...
    let r1 = make_result(t.path(), "r1", std::slice::from_ref(&signed));
    assert!(postprocess(&home, &dir, &[&r1]).status.success());
    assert!(dir.join(format!("{}.asc", signed.file())).exists());
    // ...then an unsigned one: its old .asc must go, and gpg is not needed.
    let unsigned = Img { sign: false, content: "unsigned", ..signed.clone() };
    let r2 = make_result(t.path(), "r2", std::slice::from_ref(&unsigned));
    let out = home.mkaci().env("PATH", "/nonexistent").arg("postprocess").arg(&dir).arg(&r2).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_link(dir.join(unsigned.file())).unwrap(), r2.join(unsigned.file()));
    assert!(!dir.join(format!("{}.asc", unsigned.file())).exists());
    assert!(stdout(&out)
        .contains(&format!("sudo rkt run --insecure-options=image {}", dir.join(unsigned.file()).display())));
    assert!(!stdout(&out).contains("rkt trust"));
}

#[test]
fn thin_images_publish_their_mounts() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::thin("busybox-thin");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mounts = dir.join(format!("{}.mounts", img.base()));
    assert_eq!(std::fs::read_link(&mounts).unwrap(), result.join(format!("{}.mounts", img.base())));
    assert_eq!(std::fs::read_to_string(&mounts).unwrap(), format!("{THIN_MOUNTS}\n"));
    let want = format!("sudo rkt run $(cat {}) {}", mounts.display(), dir.join(img.file()).display());
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
    // The printed command line expands to the volumes through a shell.
    let sh = Command::new("sh").arg("-c").arg(format!("printf '%s\\n' $(cat {})", mounts.display())).output().unwrap();
    assert_eq!(stdout(&sh), format!("{THIN_MOUNTS}\n"));
}

#[test]
fn exported_public_key_verifies_in_a_fresh_keyring() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    assert!(postprocess(&home, &dir, &[&result]).status.success());
    let keyfile = dir.join("pubkeys.gpg");
    assert!(std::fs::read_to_string(&keyfile).unwrap().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let fresh = GpgHome::new(KeyKind::None);
    let imp = fresh.gpg().arg("--import").arg(&keyfile).output().unwrap();
    assert!(imp.status.success(), "{}", stderr(&imp));
    let sig = dir.join(format!("{}.asc", img.file()));
    let v = fresh.gpg().args(["--status-fd", "1", "--verify"]).arg(&sig).arg(dir.join(img.file())).output().unwrap();
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(stdout(&v).contains(&format!("VALIDSIG {}", home.fingerprint())), "{}", stdout(&v));
    // Only the public part was exported.
    let secret = fresh.gpg().args(["--with-colons", "--list-secret-keys"]).output().unwrap();
    assert!(stdout(&secret).is_empty());
}

#[test]
fn no_gpg_on_path_fails_clearly_and_override_wins() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = home.mkaci().env("PATH", "/nonexistent").arg("postprocess").arg(&dir).arg(&result).output().unwrap();
    assert_fails_with(&out, &["no gpg found on PATH", "apt install gnupg", "MKACI_GPG"]);
    assert!(!dir.exists(), "left {}", dir.display());

    // A wrapper named by MKACI_GPG (and one by --gpg) is the one used, even
    // with no gpg on PATH.
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = t.path().join("gpg.log");
    let wrapper = bin.join("my-gpg");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$@\" >> '{}'\nexec /usr/bin/gpg \"$@\"\n", log.display()))
        .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = home
        .mkaci()
        .env("PATH", "/nonexistent")
        .env("MKACI_GPG", &wrapper)
        .arg("postprocess")
        .arg(&dir)
        .arg(&result)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("--detach-sign"), "{calls}");
    assert!(calls.lines().all(|l| l.starts_with("--batch")), "{calls}");
    std::fs::remove_file(&log).unwrap();
    let out = home.mkaci().arg("postprocess").arg("--gpg").arg(&wrapper).arg(&dir).arg(&result).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&log).unwrap().contains("--detach-sign"));
    // A --gpg that does not exist.
    let out =
        home.mkaci().arg("postprocess").arg("--gpg").arg(bin.join("nope")).arg(&dir).arg(&result).output().unwrap();
    assert_fails_with(&out, &["cannot run gpg", "--gpg"]);
}

#[test]
fn locked_key_fails_clearly_and_leaves_earlier_files() {
    if !need("gpg") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let dir = t.path().join("ACIs");
    let good = GpgHome::new(KeyKind::Rsa);
    let r1 = make_result(t.path(), "r1", std::slice::from_ref(&img));
    assert!(postprocess(&good, &dir, &[&r1]).status.success());
    let asc = dir.join(format!("{}.asc", img.file()));
    let old_sig = std::fs::read(&asc).unwrap();

    let locked = GpgHome::new(KeyKind::Protected);
    let r2 = make_result(t.path(), "r2", &[Img { content: "new", ..img.clone() }]);
    let out = postprocess(&locked, &dir, &[&r2]);
    assert_fails_with(&out, &["gpg-agent could not unlock", "No pinentry", "pinentry-program"]);
    // The earlier pair is untouched and still consistent.
    assert_eq!(std::fs::read_link(dir.join(img.file())).unwrap(), r1.join(img.file()));
    assert_eq!(std::fs::read(&asc).unwrap(), old_sig);
    assert!(good.verifies(&asc, &dir.join(img.file())));
    assert_eq!(listing(&dir), [img.file(), format!("{}.asc", img.file()), "pubkeys.gpg".into()]);
}

#[test]
fn unwritable_dir_fails_clearly() {
    if !need("gpg") || !need("bwrap") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let result = make_result(t.path(), "result", &[Img::fat("busybox")]);
    // DIR below a regular file: cannot be created.
    let file = t.path().join("file");
    std::fs::write(&file, "").unwrap();
    let out = postprocess(&home, &file.join("ACIs"), &[&result]);
    assert_fails_with(&out, &["cannot write to the output directory", "first argument of postprocess.sh"]);
    // A read-only DIR (a read-only bind mount, since root ignores modes).
    let ro = t.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let out = Command::new("bwrap")
        .args(["--dev-bind", "/", "/", "--ro-bind"])
        .arg(&ro)
        .arg(&ro)
        .arg(MKACI)
        .arg("postprocess")
        .arg(&ro)
        .arg(&result)
        .env("GNUPGHOME", home.path())
        .env_remove("MKACI_GPG")
        .env_remove("MKACI_SIGN_KEY")
        .output()
        .unwrap();
    assert_fails_with(&out, &["cannot write to the output directory", "Read-only file system"]);
    assert_eq!(listing(&ro), Vec::<String>::new());
}

#[test]
fn not_a_result_fails_clearly() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ACIs");
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = postprocess(&home, &dir, &[&empty]);
    assert_fails_with(&out, &["is not a nix2aci output", "nix2aci.json", "nix-build"]);
    let bad = t.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("nix2aci.json"), r#"{"nix2aci": 2, "artifacts": [{"kind": 3}]}"#).unwrap();
    let out = postprocess(&home, &dir, &[&bad]);
    assert_fails_with(&out, &["is not a valid nix2aci index", "artifacts[0].kind", "rebuild"]);
    std::fs::write(bad.join("nix2aci.json"), r#"{"nix2aci": 1, "images": []}"#).unwrap();
    let out = postprocess(&home, &dir, &[&bad]);
    assert_fails_with(&out, &["format version 1", "reads version 2", "postprocess.sh of the same result"]);
    let out = postprocess(&home, &dir, &[&t.path().join("missing")]);
    assert_fails_with(&out, &["cannot read", "missing"]);
    // A listed file that is not there.
    let result = make_result(t.path(), "result", &[Img::fat("busybox")]);
    std::fs::remove_file(result.join(Img::fat("busybox").file())).unwrap();
    let out = postprocess(&home, &dir, &[&result]);
    assert_fails_with(&out, &["busybox-1.0-linux-amd64.aci", "not a regular file"]);
    assert!(!dir.exists() || listing(&dir).is_empty());
}

#[test]
fn eddsa_key_signs_with_a_warning() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Ed25519);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&result]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("mkaci: warning:") && err.contains("EdDSA") && err.contains("RSA"), "{err}");
    assert!(home.verifies(&dir.join(format!("{}.asc", img.file())), &dir.join(img.file())));
    // An RSA key gives no warning (see the first test: empty stderr).
}

#[test]
fn several_results_and_images_in_one_run() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let a = [Img::fat("busybox"), Img { sign: false, ..Img::fat("other") }];
    let b = [Img::thin("busybox-thin")];
    let ra = make_result(t.path(), "a", &a);
    let rb = make_result(t.path(), "b", &b);
    let dir = t.path().join("ACIs");
    let out = postprocess(&home, &dir, &[&ra, &rb, &ra]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut want = vec![
        a[0].file(),
        format!("{}.asc", a[0].file()),
        a[1].file(),
        b[0].file(),
        format!("{}.asc", b[0].file()),
        format!("{}.mounts", b[0].base()),
        "pubkeys.gpg".into(),
    ];
    want.sort();
    assert_eq!(listing(&dir), want);
    let text = stdout(&out);
    assert_eq!(text.matches("rkt trust").count(), 2, "{text}");
    assert_eq!(text.matches("sudo rkt run").count(), 3, "{text}");

    // Two different results publishing the same file name are refused.
    let other = make_result(t.path(), "c", &[Img { content: "x", ..Img::fat("busybox") }]);
    let out = postprocess(&home, &dir, &[&ra, &other]);
    assert_fails_with(&out, &["two results publish the same file", "busybox-1.0-linux-amd64.aci"]);
}

#[test]
fn key_option_picks_the_signer_and_only_its_public_key_is_exported() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let first = home.fingerprint();
    let gen = home
        .gpg()
        .args(["--passphrase", "", "--quick-gen-key", "second key <second@test.invalid>", "rsa3072", "sign", "never"])
        .output()
        .unwrap();
    assert!(gen.status.success(), "{}", stderr(&gen));
    let listing = stdout(&home.gpg().args(["--with-colons", "--list-secret-keys"]).output().unwrap());
    let fprs: Vec<&str> =
        listing.lines().filter(|l| l.starts_with("fpr:")).map(|l| l.split(':').nth(9).unwrap()).collect();
    assert_eq!(fprs.len(), 2);
    let second = fprs.iter().find(|f| **f != first).unwrap().to_string();

    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    for (how, key) in [("--key", &second), ("MKACI_SIGN_KEY", &first)] {
        let mut cmd = home.mkaci();
        cmd.arg("postprocess");
        if how == "--key" {
            cmd.arg("--key").arg(key);
        } else {
            cmd.env("MKACI_SIGN_KEY", key);
        }
        let out = cmd.arg(&dir).arg(&result).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v = home
            .gpg()
            .args(["--status-fd", "1", "--verify"])
            .arg(dir.join(format!("{}.asc", img.file())))
            .arg(dir.join(img.file()))
            .output()
            .unwrap();
        assert!(stdout(&v).contains(&format!("VALIDSIG {key}")), "{how}: {}", stdout(&v));
        let fresh = GpgHome::new(KeyKind::None);
        assert!(fresh.gpg().arg("--import").arg(dir.join("pubkeys.gpg")).output().unwrap().status.success());
        let keys = stdout(&fresh.gpg().args(["--with-colons", "--list-keys"]).output().unwrap());
        let exported: Vec<&str> =
            keys.lines().filter(|l| l.starts_with("fpr:")).map(|l| l.split(':').nth(9).unwrap()).collect();
        assert_eq!(exported, [key.as_str()], "{how}");
    }
}

#[test]
fn a_fat_rebuild_of_a_thin_image_drops_the_stale_mounts_link() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let thin = Img::thin("busybox");
    let fat = Img::fat("busybox");
    assert_eq!(thin.file(), fat.file());
    let dir = t.path().join("ACIs");
    let r1 = make_result(t.path(), "r1", std::slice::from_ref(&thin));
    assert!(postprocess(&home, &dir, &[&r1]).status.success());
    assert!(dir.join(format!("{}.mounts", thin.base())).exists());
    let r2 = make_result(t.path(), "r2", std::slice::from_ref(&fat));
    let out = postprocess(&home, &dir, &[&r2]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listing(&dir), [fat.file(), format!("{}.asc", fat.file()), "pubkeys.gpg".into()]);
    assert!(!stdout(&out).contains("$(cat"), "{}", stdout(&out));
}
