//! `--push REF`: sending a published OCI image to a registry
//! (`docker://HOST[:PORT]/NAME[:TAG]`) or into podman's local store
//! (`containers-storage:NAME[:TAG]`), after DIR is written.
//!
//! The transport is skopeo (`skopeo copy oci:DIR/<base>.oci:<tag> REF`, run
//! with an argument vector, never through a shell): it asks the registry for
//! each blob first (HEAD) and sends only those it lacks, mounts a blob the
//! registry holds under another name instead of sending it, and writes the
//! manifest last, so a failed push never leaves a tag pointing at missing
//! blobs (docs/oci.md says why skopeo and not a registry client in Rust).
//!
//! The bytes sent and skipped come from the layout's manifest (each blob's
//! size) and skopeo's debug log: a blob skopeo reports `Upload of layer
//! <digest> complete` for was sent; every other blob of the manifest the
//! destination had already (`Skipping blob <digest> (already present)`, or a
//! mount from another repository). The manifest itself is always sent.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::archive::digest::Sha256Digest;

/// Where `--push` sends an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `docker://HOST[:PORT]/NAME[:TAG]`.
    Registry { host: String, name: String, tag: Option<String> },
    /// `containers-storage:[STORE]NAME[:TAG]`, STORE being containers'
    /// optional `[driver@root+runroot]`.
    ContainersStorage { store: Option<String>, name: String, tag: Option<String> },
}

/// A `--push` value, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRef {
    /// As given.
    pub raw: String,
    pub dest: Destination,
}

/// What a good `--push` value looks like, for the errors.
const REF_FORMS: &str = "docker://HOST[:PORT]/NAME[:TAG] for a registry (e.g. docker://localhost:5000/busybox:1.35.0) \
     or containers-storage:NAME[:TAG] for podman's local store (e.g. containers-storage:localhost/busybox:1.35.0); \
     without :TAG the image's own tag is used";

/// Why a push failed, or was refused before anything was sent. Each message
/// names the flag or the registry, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("--push {value:?}: {problem}; give {REF_FORMS}")]
    BadRef { value: String, problem: String },
    #[error(
        "--authfile {path:?} does not exist; give the file `skopeo login --authfile FILE` or \
         `podman login --authfile FILE` wrote, or leave --authfile out to use the default \
         (REGISTRY_AUTH_FILE, ${{XDG_RUNTIME_DIR}}/containers/auth.json, ~/.docker/config.json)"
    )]
    AuthfileMissing { path: PathBuf },
    #[error(
        "--push needs skopeo, and {program:?} cannot be run: {message}; install it (apt-get install skopeo, \
         or nix-env -iA nixpkgs.skopeo) or name it with --skopeo PATH"
    )]
    SkopeoMissing { program: PathBuf, message: String },
    #[error(
        "--push sends OCI images, and the results hold none ({results}); ACIs are not pushed to registries \
         (publish them with --site); build the image with mkOCI to push it"
    )]
    NoOciImages { results: String },
    #[error(
        "--push {value:?} names one tag, and the results hold {count} OCI images ({images}); they would \
         overwrite each other: push each result with its own --push, or leave :TAG out so that each image \
         keeps its own tag"
    )]
    OneTagManyImages { value: String, count: usize, images: String },
    #[error(
        "cannot reach the registry {registry} (--push {value:?}): {message}; start the registry or correct \
         HOST[:PORT]; DIR is published, so only the push needs running again"
    )]
    Unreachable { registry: String, value: String, message: String },
    #[error(
        "the registry {registry} (--push {value:?}) answers in plain HTTP, not HTTPS; for a registry on this \
         machine add --tls-verify=false, otherwise serve it with TLS"
    )]
    PlainHttp { registry: String, value: String },
    #[error(
        "the TLS certificate of the registry {registry} (--push {value:?}) is not trusted: {message}; put the \
         certificate of the CA that signed it in /etc/containers/certs.d/{registry}/ca.crt (or the system's \
         trust store), or, for a registry on this machine only, add --tls-verify=false"
    )]
    UnknownCertificate { registry: String, value: String, message: String },
    #[error(
        "the registry {registry} (--push {value:?}) refused the push: {message}; credentials from {authfile}; \
         log in with `skopeo login {registry}` or `podman login {registry}` (with --tls-verify=false for plain \
         HTTP), or give --authfile FILE with credentials for {registry} that may push there"
    )]
    Unauthorized { registry: String, value: String, authfile: String, message: String },
    #[error("skopeo could not push to {registry} (--push {value:?}) after {tries} tries: {message}")]
    Failed { registry: String, value: String, tries: u32, message: String },
}

impl std::str::FromStr for PushRef {
    type Err = PushError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| PushError::BadRef { value: value.to_string(), problem: problem.to_string() };
        if let Some(rest) = value.strip_prefix("docker://") {
            let Some((host, path)) = rest.split_once('/') else {
                return Err(bad("it names no image after the registry host"));
            };
            if !valid_host(host) {
                return Err(bad(
                    "the part before the first / must be the registry's HOST[:PORT] (a host with a dot or a port, \
                     or localhost; docker.io/library/NAME for Docker Hub)",
                ));
            }
            let (name, tag) = split_tag(path).map_err(|p| bad(&p))?;
            Ok(PushRef { raw: value.into(), dest: Destination::Registry { host: host.into(), name, tag } })
        } else if let Some(rest) = value.strip_prefix("containers-storage:") {
            let (store, path) = match rest.strip_prefix('[') {
                Some(r) => match r.split_once(']') {
                    Some((s, p)) if !s.is_empty() => (Some(format!("[{s}]")), p),
                    _ => return Err(bad("the store specification [driver@root+runroot] is not closed")),
                },
                None => (None, rest),
            };
            let (name, tag) = split_tag(path).map_err(|p| bad(&p))?;
            Ok(PushRef { raw: value.into(), dest: Destination::ContainersStorage { store, name, tag } })
        } else if value.contains("://") || value.contains(':') && !value.contains('/') {
            Err(bad("its transport is neither docker:// nor containers-storage:"))
        } else {
            Err(bad("it has no transport"))
        }
    }
}

/// `HOST[:PORT]` as docker references take it: a host with a dot or a
/// port, or `localhost`.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    port_ok && name_ok && (name.contains('.') || port.is_some() || name == "localhost")
}

/// `NAME[:TAG]`, each checked as docker references do: lower-case path
/// components separated by `/` (a first one may be a registry host), a tag
/// of at most 128 word characters, dots and dashes.
fn split_tag(path: &str) -> Result<(String, Option<String>), String> {
    if path.contains('@') {
        return Err("a digest (@sha256:...) is not a destination; give a tag".into());
    }
    let (name, tag) = match path.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (path, None),
    };
    if name.is_empty() {
        return Err("it names no image".into());
    }
    for (i, c) in name.split('/').enumerate() {
        let host_like = i == 0 && name.contains('/') && valid_host(c);
        if !host_like && !valid_component(c) {
            return Err(format!(
                "the name component {c:?} is not lower-case letters and digits separated by ., _, __ or dashes"
            ));
        }
    }
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(format!(
                "the tag {t:?} is not 1 to 128 letters, digits, _, . and - (not starting with . or -)"
            ));
        }
    }
    Ok((name.to_string(), tag.map(str::to_string)))
}

/// A path component of a docker name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

impl PushRef {
    /// The registry's `HOST[:PORT]`, or "podman's local store".
    pub fn registry(&self) -> String {
        match &self.dest {
            Destination::Registry { host, .. } => host.clone(),
            Destination::ContainersStorage { .. } => "podman's local store (containers-storage)".into(),
        }
    }

    /// Whether the value gives its own tag.
    pub fn has_tag(&self) -> bool {
        match &self.dest {
            Destination::Registry { tag, .. } | Destination::ContainersStorage { tag, .. } => tag.is_some(),
        }
    }

    /// The destination skopeo writes, with `default_tag` when the value gives none.
    pub fn skopeo_destination(&self, default_tag: &str) -> String {
        match &self.dest {
            Destination::Registry { host, name, tag } => {
                format!("docker://{host}/{name}:{}", tag.as_deref().unwrap_or(default_tag))
            }
            Destination::ContainersStorage { store, name, tag } => format!(
                "containers-storage:{}{name}:{}",
                store.as_deref().unwrap_or(""),
                tag.as_deref().unwrap_or(default_tag)
            ),
        }
    }
}

/// The settings of every push of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// skopeo; found on PATH when `None`.
    pub skopeo: Option<PathBuf>,
    /// `--tls-verify=false` turns it off (skopeo's `--dest-tls-verify=false`).
    pub tls_verify: bool,
    /// The credentials file passed to skopeo, if any ([`default_authfile`]).
    pub authfile: Option<PathBuf>,
}

impl PushOptions {
    fn skopeo(&self) -> PathBuf {
        self.skopeo.clone().unwrap_or_else(|| PathBuf::from("skopeo"))
    }

    fn authfile_text(&self) -> String {
        match &self.authfile {
            Some(f) => format!("{f:?}"),
            None => "no credentials file (none of REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, \
                     ~/.docker/config.json exists)"
                .into(),
        }
    }
}

/// The credentials file: `--authfile` when given (which must exist), else
/// the first that exists of `REGISTRY_AUTH_FILE`,
/// `${XDG_RUNTIME_DIR}/containers/auth.json` and `~/.docker/config.json`,
/// the containers convention; `None` when there is none.
pub fn resolve_authfile(given: Option<PathBuf>) -> Result<Option<PathBuf>, PushError> {
    if let Some(path) = given {
        return if path.is_file() { Ok(Some(path)) } else { Err(PushError::AuthfileMissing { path }) };
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let candidates = [
        env("REGISTRY_AUTH_FILE"),
        env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
        env("HOME").map(|h| h.join(".docker/config.json")),
    ];
    Ok(candidates.into_iter().flatten().find(|p| p.is_file()))
}

/// Checks that skopeo runs (`skopeo --version`), before DIR is written.
pub fn check_skopeo(options: &PushOptions) -> Result<(), PushError> {
    let program = options.skopeo();
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| PushError::SkopeoMissing { program: program.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(PushError::SkopeoMissing { program, message });
    }
    Ok(())
}

/// Refuses, before DIR is written, pushes that cannot be done: results with
/// no OCI image (`images` lists each OCI image of the results by
/// `name:tag`), and a value with a tag when there are several images.
pub fn check_targets(refs: &[PushRef], images: &[String], results: &[PathBuf]) -> Result<(), PushError> {
    if refs.is_empty() {
        return Ok(());
    }
    if images.is_empty() {
        let results = results.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
        return Err(PushError::NoOciImages { results });
    }
    if images.len() > 1 {
        if let Some(r) = refs.iter().find(|r| r.has_tag()) {
            return Err(PushError::OneTagManyImages {
                value: r.raw.clone(),
                count: images.len(),
                images: images.join(", "),
            });
        }
    }
    Ok(())
}

/// One image to push: the published layout and what its manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSource {
    /// `DIR/<base>.oci`.
    pub layout: PathBuf,
    pub tag: String,
    /// The manifest's size, and its blobs (the config, then the layers) with their sizes.
    pub manifest_size: u64,
    pub blobs: Vec<(Sha256Digest, u64)>,
    /// An image index: every image it lists is sent with it (skopeo's
    /// `--all`), the index and the manifests with their digests kept.
    pub all: bool,
}

/// What one push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// What skopeo wrote, e.g. `docker://localhost:5000/busybox:1.35.0`.
    pub destination: String,
    pub sent_blobs: usize,
    pub sent_bytes: u64,
    pub skipped_blobs: usize,
    pub skipped_bytes: u64,
    pub manifest_bytes: u64,
    /// The manifest digest the destination holds (skopeo's `--digestfile`).
    pub digest: Option<String>,
    pub tries: u32,
}

/// How many times a push is tried when it fails in a way that may pass.
pub const TRIES: u32 = 2;

/// Pushes `source` to `target` with skopeo; see the module docs.
pub fn push(source: &PushSource, target: &PushRef, options: &PushOptions) -> Result<Pushed, PushError> {
    let destination = target.skopeo_destination(&source.tag);
    let digest_file = std::env::temp_dir().join(format!(".nix2aci-push-digest-{}", std::process::id()));
    let mut tries = 0;
    let log = loop {
        tries += 1;
        let _ = std::fs::remove_file(&digest_file);
        let mut cmd = Command::new(options.skopeo());
        cmd.arg("--debug").arg("copy").arg("--preserve-digests").arg("--digestfile").arg(&digest_file);
        if source.all {
            cmd.arg("--all");
        }
        if matches!(target.dest, Destination::Registry { .. }) {
            if !options.tls_verify {
                cmd.arg("--dest-tls-verify=false");
            }
            if let Some(a) = &options.authfile {
                cmd.arg("--dest-authfile").arg(a);
            }
        }
        let mut src = std::ffi::OsString::from("oci:");
        src.push(source.layout.as_os_str());
        src.push(":");
        src.push(&source.tag);
        cmd.arg(src).arg(&destination);
        let out =
            cmd.output().map_err(|e| PushError::SkopeoMissing { program: options.skopeo(), message: e.to_string() })?;
        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            break log;
        }
        let message = failure_message(&log);
        if tries < TRIES && transient(&message) {
            std::thread::sleep(std::time::Duration::from_secs(2));
            continue;
        }
        let _ = std::fs::remove_file(&digest_file);
        return Err(classify(target, options, message, tries));
    };
    let digest = std::fs::read_to_string(&digest_file).ok().map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
    let _ = std::fs::remove_file(&digest_file);
    let (mut sent_blobs, mut sent_bytes, mut skipped_blobs, mut skipped_bytes) = (0, 0, 0, 0);
    for (d, size) in &source.blobs {
        if log.contains(&format!("Upload of layer {d} complete")) {
            sent_blobs += 1;
            sent_bytes += size;
        } else {
            skipped_blobs += 1;
            skipped_bytes += size;
        }
    }
    Ok(Pushed {
        destination,
        sent_blobs,
        sent_bytes,
        skipped_blobs,
        skipped_bytes,
        manifest_bytes: source.manifest_size,
        digest,
        tries,
    })
}

/// The message of skopeo's failure: its `level=fatal msg="..."` line, else
/// the last line it printed.
fn failure_message(log: &str) -> String {
    for line in log.lines().rev() {
        if let Some(i) = line.find("level=fatal msg=") {
            let m = &line[i + "level=fatal msg=".len()..];
            let m = m.strip_prefix('"').and_then(|m| m.strip_suffix('"')).unwrap_or(m);
            return m.replace("\\\"", "\"");
        }
    }
    log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("skopeo printed nothing").trim().to_string()
}

/// A failure that may pass when tried again: a dropped connection, a
/// timeout, a registry that is busy.
fn transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection reset",
        "i/o timeout",
        "tls handshake timeout",
        "unexpected eof",
        "broken pipe",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "429 too many requests",
    ]
    .iter()
    .any(|t| m.contains(t))
}

/// The error for skopeo's failure `message`.
fn classify(target: &PushRef, options: &PushOptions, message: String, tries: u32) -> PushError {
    let (registry, value) = (target.registry(), target.raw.clone());
    let m = message.to_ascii_lowercase();
    if m.contains("server gave http response to https client") {
        PushError::PlainHttp { registry, value }
    } else if m.contains("x509:") || m.contains("certificate signed by unknown authority") {
        PushError::UnknownCertificate { registry, value, message }
    } else if m.contains("unauthorized") || m.contains("authentication required") || m.contains("denied") {
        PushError::Unauthorized { registry, value, authfile: options.authfile_text(), message }
    } else if m.contains("connection refused")
        || m.contains("no such host")
        || m.contains("no route to host")
        || m.contains("network is unreachable")
    {
        PushError::Unreachable { registry, value, message }
    } else {
        PushError::Failed { registry, value, tries, message }
    }
}

/// The sizes a push reports, from a layout's manifest: the manifest's
/// size, and the config's and each layer's.
pub fn source_of(layout: &Path, tag: &str, read: &crate::formats::oci::ReadLayout) -> PushSource {
    let blobs = std::iter::once((read.manifest.config.digest, read.manifest.config.size))
        .chain(read.manifest.layers.iter().map(|l| (l.digest, l.size)))
        .collect();
    PushSource {
        layout: layout.to_path_buf(),
        tag: tag.to_string(),
        manifest_size: read.manifest_descriptor.size,
        blobs,
        all: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<PushRef, PushError> {
        v.parse()
    }

    #[test]
    fn registry_references() {
        let r = parse("docker://127.0.0.1:5000/nix2aci/busybox:1.35.0").unwrap();
        assert_eq!(
            r.dest,
            Destination::Registry {
                host: "127.0.0.1:5000".into(),
                name: "nix2aci/busybox".into(),
                tag: Some("1.35.0".into())
            }
        );
        assert_eq!(r.skopeo_destination("x"), "docker://127.0.0.1:5000/nix2aci/busybox:1.35.0");
        let r = parse("docker://localhost/busybox").unwrap();
        assert_eq!(r.skopeo_destination("1.35.0"), "docker://localhost/busybox:1.35.0");
        assert_eq!(r.registry(), "localhost");
        assert!(parse("docker://docker.io/library/busybox:latest").is_ok());
    }

    #[test]
    fn containers_storage_references() {
        let r = parse("containers-storage:localhost/busybox:t").unwrap();
        assert_eq!(r.skopeo_destination("x"), "containers-storage:localhost/busybox:t");
        let r = parse("containers-storage:[vfs@/tmp/root+/tmp/run]busybox").unwrap();
        assert_eq!(r.skopeo_destination("1"), "containers-storage:[vfs@/tmp/root+/tmp/run]busybox:1");
    }

    #[test]
    fn bad_references_name_push_the_value_and_the_forms() {
        for (v, problem) in [
            ("busybox:1", "transport"),
            ("docker-daemon:busybox:1", "neither docker:// nor containers-storage:"),
            ("docker://busybox:1", "names no image"),
            ("docker://busybox/x:1", "HOST[:PORT]"),
            ("docker://localhost:5000/BusyBox:1", "\"BusyBox\""),
            ("docker://localhost:5000/busybox:", "tag \"\""),
            ("docker://localhost:5000/busybox:-x", "tag \"-x\""),
            ("docker://localhost:5000/busybox@sha256:00", "digest"),
            ("containers-storage:[vfs@/r", "not closed"),
            ("containers-storage:", "names no image"),
        ] {
            let e = parse(v).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--push {v:?}: ")), "{e}");
            assert!(e.contains(problem), "{v}: {e}");
            assert!(e.contains("docker://HOST[:PORT]/NAME[:TAG]"), "{e}");
        }
    }

    #[test]
    fn components() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "0x"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in ["", "A", "a.", "_a", "a..b", "a___b", "a-_b"] {
            assert!(!valid_component(bad), "{bad}");
        }
    }

    #[test]
    fn one_tag_for_many_images_is_refused() {
        let r = vec![parse("docker://localhost:5000/x:1").unwrap()];
        let images = vec!["a:1".to_string(), "b:1".to_string()];
        let e = check_targets(&r, &images, &[]).unwrap_err().to_string();
        assert!(e.contains("--push \"docker://localhost:5000/x:1\"") && e.contains("leave :TAG out"), "{e}");
        let untagged = vec![parse("docker://localhost:5000/x").unwrap()];
        assert!(check_targets(&untagged, &images, &[]).is_ok());
        let e = check_targets(&r, &[], &[PathBuf::from("result")]).unwrap_err().to_string();
        assert!(e.contains("ACIs are not pushed"), "{e}");
    }

    #[test]
    fn failures_are_classified() {
        let r = parse("docker://127.0.0.1:5999/x:1").unwrap();
        let o = PushOptions { skopeo: None, tls_verify: true, authfile: None };
        let log = "Getting image source signatures\ntime=\"t\" level=fatal msg=\"trying to reuse blob sha256:ee at destination: pinging container registry 127.0.0.1:5999: Get \\\"https://127.0.0.1:5999/v2/\\\": dial tcp 127.0.0.1:5999: connect: connection refused\"\n";
        let m = failure_message(log);
        assert!(m.ends_with("connect: connection refused") && m.contains("\"https://"), "{m}");
        assert!(matches!(classify(&r, &o, m, 1), PushError::Unreachable { .. }));
        let e = classify(&r, &o, "http: server gave HTTP response to HTTPS client".into(), 1).to_string();
        assert!(e.contains("--tls-verify=false") && e.contains("127.0.0.1:5999"), "{e}");
        let e = classify(&r, &o, "x509: certificate signed by unknown authority".into(), 1).to_string();
        assert!(e.contains("/etc/containers/certs.d/127.0.0.1:5999/ca.crt"), "{e}");
        let e = classify(&r, &o, "unauthorized: authentication required".into(), 1).to_string();
        assert!(e.contains("--authfile FILE") && e.contains("no credentials file"), "{e}");
        assert!(transient("read tcp: connection reset by peer"));
        assert!(!transient("connect: connection refused"));
    }
}
