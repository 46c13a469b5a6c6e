//! Shared helpers for the integration tests: the host-tool policy ([`need`]),
//! throwaway GnuPG homes with real keys, and hand-made nix2aci results laid
//! out as docs/result-layout.md says, holding small real ACIs made with GNU
//! tar + gzip; and a fake store directory for `mkaci build --attrs` tests.
#![allow(dead_code, unreachable_pub)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha512};

pub mod tars;

pub const MKACI: &str = env!("CARGO_BIN_EXE_mkaci");

/// Whether the host tool `program` is on PATH. A test that needs it returns
/// early when it is not, after printing why; under `scripts/test`, which
/// installs every tool and sets `NIX2ACI_REQUIRE_TOOLS=1`, a missing tool
/// fails the test instead.
pub fn need(program: &str) -> bool {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false);
    if !found {
        if std::env::var("NIX2ACI_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{program} is not on PATH, and NIX2ACI_REQUIRE_TOOLS=1 requires it (run ./scripts/setup)");
        }
        eprintln!("skipped: {program} not found on PATH (./scripts/setup installs it)");
    }
    found
}

/// A throwaway GNUPGHOME; its gpg-agent is stopped on drop.
pub struct GpgHome {
    pub dir: tempfile::TempDir,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyKind {
    /// No key at all.
    None,
    /// RSA 3072, no passphrase.
    Rsa,
    /// Ed25519, no passphrase.
    Ed25519,
    /// RSA 3072 with a passphrase, and an agent without a usable pinentry.
    Protected,
}

fn gen_home(kind: KeyKind) -> tempfile::TempDir {
    // Short path: the agent socket lives in GNUPGHOME and must fit sockaddr_un.
    let dir = tempfile::Builder::new().prefix("gh").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let (uid, algo, pass) = match kind {
        KeyKind::None => return dir,
        KeyKind::Rsa => ("nix2aci test key <rsa@test.invalid>", "rsa3072", ""),
        KeyKind::Ed25519 => ("nix2aci test key <ed@test.invalid>", "ed25519", ""),
        KeyKind::Protected => ("nix2aci test key <locked@test.invalid>", "rsa3072", "s3cret"),
    };
    let out = Command::new("gpg")
        .env("GNUPGHOME", dir.path())
        .args(["--batch", "--passphrase", pass, "--quick-gen-key", uid, algo, "sign", "never"])
        .output()
        .unwrap();
    assert!(out.status.success(), "gpg --quick-gen-key: {}", String::from_utf8_lossy(&out.stderr));
    kill_agent(dir.path());
    dir
}

fn kill_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "gpg-agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            std::fs::create_dir(&dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700)).unwrap();
            copy_dir(&entry.path(), &dest);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &dest).unwrap();
        } // sockets of a running agent are skipped
    }
}

impl GpgHome {
    /// A fresh home holding a copy of a key generated once per test binary.
    pub fn new(kind: KeyKind) -> GpgHome {
        static RSA: OnceLock<tempfile::TempDir> = OnceLock::new();
        static ED: OnceLock<tempfile::TempDir> = OnceLock::new();
        static LOCKED: OnceLock<tempfile::TempDir> = OnceLock::new();
        let template = match kind {
            KeyKind::None => return GpgHome { dir: gen_home(KeyKind::None) },
            KeyKind::Rsa => RSA.get_or_init(|| gen_home(kind)),
            KeyKind::Ed25519 => ED.get_or_init(|| gen_home(kind)),
            KeyKind::Protected => LOCKED.get_or_init(|| gen_home(kind)),
        };
        let home = gen_home(KeyKind::None);
        copy_dir(template.path(), home.path());
        if kind == KeyKind::Protected {
            // No pinentry can run, as on a headless machine in --batch.
            std::fs::write(home.path().join("gpg-agent.conf"), "pinentry-program /nonexistent/pinentry\n").unwrap();
        }
        GpgHome { dir: home }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `gpg` with this home.
    pub fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.path()).arg("--batch");
        c
    }

    /// The primary key's fingerprint.
    pub fn fingerprint(&self) -> String {
        let out = self.gpg().args(["--with-colons", "--list-secret-keys"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_string()
    }

    /// `mkaci` with this home and no MKACI_* overrides from the environment.
    /// `mkaci postprocess EXTRA -- DIR RESULTS...` with this home's gpg.
    pub fn postprocess(&self, dir: &Path, results: &[&Path], extra: &[&str]) -> Output {
        self.mkaci().arg("postprocess").args(extra).arg("--").arg(dir).args(results).output().unwrap()
    }

    pub fn mkaci(&self) -> Command {
        self.command(MKACI)
    }

    /// `program` (e.g. a generated postprocess.sh) with this home and no MKACI_*
    /// overrides from the environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("GNUPGHOME", self.path())
            .env_remove("MKACI_GPG")
            .env_remove("MKACI_SIGN_KEY")
            .env_remove("GPG_TTY")
            .stdin(Stdio::null());
        c
    }

    /// `gpg --verify sig file` succeeds.
    pub fn verifies(&self, sig: &Path, file: &Path) -> bool {
        self.gpg().arg("--verify").arg(sig).arg(file).output().unwrap().status.success()
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        kill_agent(self.path());
    }
}

/// One image of a hand-made result.
#[derive(Clone, Debug)]
pub struct Img {
    pub name: &'static str,
    pub version: &'static str,
    pub thin: bool,
    pub sign: bool,
    /// Different contents give a different image.
    pub content: &'static str,
    /// The manifest's `app.mountPoints`: (name, path, readOnly).
    pub mount_points: &'static [(&'static str, &'static str, bool)],
}

impl Img {
    pub fn fat(name: &'static str) -> Img {
        Img { name, version: "1.0", thin: false, sign: true, content: "hello", mount_points: &[] }
    }
    pub fn thin(name: &'static str) -> Img {
        Img { thin: true, ..Img::fat(name) }
    }
    pub fn base(&self) -> String {
        let last = self.name.rsplit('/').next().unwrap();
        format!("{last}-{}-linux-amd64", self.version)
    }
    pub fn file(&self) -> String {
        format!("{}.aci", self.base())
    }
}

/// The store mount of a thin image here: its name and path.
pub const THIN_MOUNT: (&str, &str) =
    ("nix-0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw", "/nix/store/0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-busybox-1.36.1");
pub const THIN_MOUNTS: &str = "--volume=nix-0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw,kind=host,source=/nix/store/0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-busybox-1.36.1,readOnly=true";

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Builds `parent/name` as a nix2aci result with these images, following
/// docs/result-layout.md, including a postprocess.sh that calls this mkaci.
pub fn make_result(parent: &Path, name: &str, images: &[Img]) -> PathBuf {
    use mkaci::image::plan::StoreLayout;
    use mkaci::result::{AciFiles, Artifact, ArtifactKind, Digests, ImageBase, Index};
    let out = parent.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let mut artifacts = Vec::new();
    for img in images {
        let mount_points: Vec<serde_json::Value> = img
            .mount_points
            .iter()
            .map(|(name, path, ro)| serde_json::json!({"name": name, "path": path, "readOnly": ro}))
            .collect();
        let mut manifest = serde_json::json!({
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": img.name,
            "labels": [
                {"name": "version", "value": img.version},
                {"name": "os", "value": "linux"},
                {"name": "arch", "value": "amd64"}
            ],
            "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}
        });
        let mut mount_points = mount_points;
        if img.thin && !img.mount_points.iter().any(|m| m.0 == THIN_MOUNT.0) {
            // The store mount THIN_MOUNTS gives the volume of.
            mount_points.push(serde_json::json!({"name": THIN_MOUNT.0, "path": THIN_MOUNT.1, "readOnly": true}));
        }
        if !mount_points.is_empty() {
            manifest["app"]["mountPoints"] = mount_points.into();
        }
        let name: mkaci::image::manifest::AcIdentifier = img.name.parse().unwrap();
        let files = AciFiles::new(&ImageBase::new(&name, Some(img.version), "linux", "amd64"), img.thin);
        assert_eq!(files.image.as_str(), img.file());
        let id = make_aci(&out.join(&files.image), &serde_json::to_vec(&manifest).unwrap(), img.content, &[]);
        std::fs::write(out.join(&files.manifest), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
        std::fs::write(out.join(&files.id), format!("{id}\n")).unwrap();
        if let Some(m) = &files.mounts {
            std::fs::write(out.join(m), format!("{THIN_MOUNTS}\n")).unwrap();
        }
        artifacts.push(Artifact {
            kind: ArtifactKind::Aci,
            name,
            version: Some(img.version.to_string()),
            os: "linux".into(),
            arch: "amd64".into(),
            store_layout: if img.thin { StoreLayout::Thin } else { StoreLayout::Fat },
            sign: img.sign,
            files,
            digests: Digests { image_id: id.parse().unwrap() },
            size: None,
            store_paths: Vec::new(),
        });
    }
    std::fs::write(out.join(mkaci::result::INDEX_FILE), Index::new(artifacts).to_json()).unwrap();
    let script_path = out.join(mkaci::result::POSTPROCESS_SCRIPT);
    std::fs::write(&script_path, mkaci::result::script::postprocess_script(Path::new(MKACI), &out)).unwrap();
    std::fs::set_permissions(&script_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    out
}

/// Writes a gzip ACI to `path` made by GNU tar: `manifest` with these bytes,
/// `rootfs/bin/hello.txt` holding `content`, and any `extra` top-level files
/// (which make the layout invalid). Returns the image ID.
pub fn make_aci(path: &Path, manifest: &[u8], content: &str, extra: &[&str]) -> String {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("manifest"), manifest).unwrap();
    std::fs::create_dir_all(work.path().join("rootfs/bin")).unwrap();
    std::fs::write(work.path().join("rootfs/bin/hello.txt"), content).unwrap();
    for e in extra {
        std::fs::write(work.path().join(e), "extra").unwrap();
    }
    let tar = work.path().join("image.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(work.path())
            .args(["--owner=0", "--group=0", "--numeric-owner", "--mtime=@1", "--sort=name", "-cf"])
            .arg(&tar)
            .args(["manifest", "rootfs"])
            .args(extra),
    );
    let tar_bytes = std::fs::read(&tar).unwrap();
    let gz = run_ok(Command::new("gzip").args(["-n", "-c"]).arg(&tar));
    std::fs::write(path, gz.stdout).unwrap();
    format!("sha512-{}", hex(&Sha512::digest(&tar_bytes)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run with exactly one `mkaci: error:` line containing all `needles`.
pub fn assert_fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success\nstdout: {}\nstderr: {err}", stdout(o));
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("mkaci: error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
}

/// A store directory (`<tmp>/nix/store`) in a temporary directory, standing
/// in for the Nix store in `mkaci build --attrs` tests.
pub struct FakeStore {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl FakeStore {
    pub fn new() -> FakeStore {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nix/store");
        std::fs::create_dir_all(&dir).unwrap();
        FakeStore { tmp, dir }
    }

    /// The absolute store path `<dir>/<hash>-<name>`.
    pub fn path(&self, hash: &str, name: &str) -> String {
        format!("{}/{hash}-{name}", self.dir.display())
    }

    /// `<hash>-busybox` with `bin/busybox` (the host's static busybox, 0555)
    /// and `bin/<applet>` links to it.
    pub fn add_busybox(&self, hash: &str, applets: &[&str]) -> PathBuf {
        let bb = PathBuf::from(self.path(hash, "busybox"));
        std::fs::create_dir_all(bb.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", bb.join("bin/busybox")).unwrap();
        std::fs::set_permissions(bb.join("bin/busybox"), std::fs::Permissions::from_mode(0o555)).unwrap();
        for applet in applets {
            std::os::unix::fs::symlink("busybox", bb.join("bin").join(applet)).unwrap();
        }
        bb
    }
}

/// Everything under `dir`, hidden names included, as `path -> what`: a
/// file's mode and SHA-256, a link's target, or a directory; to compare a
/// tree before and after.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if m.is_dir() {
                walk(root, &path, out);
                "dir".to_string()
            } else {
                let bytes = std::fs::read(&path).unwrap();
                format!("file {:o} {}", m.mode() & 0o7777, hex(&sha2::Sha256::digest(&bytes)))
            };
            out.insert(rel, what);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
