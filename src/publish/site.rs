//! `mkaci postprocess --site SITE --base-url URL`: besides DIR, publish every
//! ACI of the run into SITE, a static tree that any static web server can
//! serve at URL as an appc discovery endpoint (appc spec v0.8.11,
//! "App Container Image Discovery", meta discovery). `docs/site.md` is the
//! user's description; this is the why.
//!
//! Layout, for the base URL `http://example.com/aci/` (the prefix
//! `example.com/aci`) and the image `example.com/aci/tools/busybox`,
//! version `1.35.0`, `linux`/`amd64`:
//! - `index.html`, `tools/index.html`, `tools/busybox/index.html`: one page
//!   per name and per parent prefix down from the base URL. rkt asks
//!   `https://{prefix}?ac-discovery=1`, and a static server cannot see the
//!   query: it answers `/aci/tools` with a redirect to `/aci/tools/` (query
//!   kept), which rkt's Go client follows, and serves the `index.html` there.
//!   Each page holds one `ac-discovery` meta tag (its own prefix and the one
//!   URL template of the site) and one `ac-discovery-pubkeys` tag per key
//!   that signed an image named at or under its prefix, so that
//!   `rkt trust --prefix` of any level finds the keys.
//! - `_aci/{name}-{version}-{os}-{arch}.aci` and `.aci.asc`: the images, at
//!   the URL template [`TEMPLATE`] under the base URL. `{name}` is the whole
//!   name, so the file lies at
//!   `_aci/example.com/aci/tools/busybox-1.35.0-linux-amd64.aci`.
//! - `_keys/<FINGERPRINT>.gpg`: each signing key, ASCII-armored, one file per
//!   key so that a key is never dropped when a later run signs with another.
//! - `_site.json` ([`INDEX_FILE`]): what the site holds, the rule's memory.
//!
//! A name component is an AC Identifier part, which starts with a-z or 0-9,
//! so no name's page can ever be `_aci/`, `_keys/` or `_site.json`.
//!
//! The rule: an image, once published, is never replaced. A run that brings
//! a different image ID for a name, version, os and arch the site holds is
//! refused, as is a name the base URL cannot answer. Every check is made
//! before anything is written ([`Site::check`] runs before postprocess
//! writes DIR, and [`Site::publish`] checks again), so a refused run leaves
//! the site (and DIR) as it was. Publishing the same image again writes
//! nothing: the existing `.aci` and `.asc` stay. Files are copies (the site
//! must not depend on the Nix store), each written under a temporary name
//! and renamed into place, and a file is only written when its bytes change.
//! Every file is staged first and then renamed into place, the index first
//! ([`super::fsops::Transaction`]): a write that fails puts back what was
//! renamed (and postprocess then puts DIR back too), and a run killed
//! part-way leaves entries whose files are missing, which publishing the
//! same images again completes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsops;
use super::postprocess::Report;
use crate::image::image_id::ImageId;
use crate::image::manifest::AcIdentifier;
use crate::publish::sign::{Fingerprint, GpgError};
use crate::publish::source::Checked;
use crate::result::{Artifact, IndexError, ResultDir};

/// The site's index of the images it holds.
pub const INDEX_FILE: &str = "_site.json";
/// The version of [`INDEX_FILE`] this mkaci reads and writes.
pub const INDEX_VERSION: u64 = 1;
/// The lock file publishers take ([`Site::lock`]); never served as content.
pub const LOCK_FILE: &str = "_site.lock";
/// The directory of the images and their signatures.
pub const IMAGE_DIR: &str = "_aci";
/// The directory of the armored public keys.
pub const KEY_DIR: &str = "_keys";
/// The appc URL template of the images, relative to the base URL.
pub const TEMPLATE: &str = "_aci/{name}-{version}-{os}-{arch}.{ext}";
/// The version discovery fills in when none is asked for (appc's default),
/// and the one a file name of an image without a version label uses.
const NO_VERSION: &str = "latest";

/// Why the site cannot be published. Each message names the flag, file or
/// value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    #[error(
        "--base-url {value:?} {problem}; give the http:// or https:// URL the site directory \
         is served at, with no port, query or fragment, e.g. --base-url https://example.com/aci/ \
         (images are then named example.com/aci/...)"
    )]
    BaseUrl { value: String, problem: String },
    #[error(
        "cannot publish {name} into the site for --base-url {base}: rkt discovers it at \
         https://{name}?ac-discovery=1 (or http://), which that site cannot answer; name the \
         image {prefix}/<something> (the mkACI name argument) or publish it with a --base-url \
         whose host and path begin its name"
    )]
    NameOutsideBase { name: AcIdentifier, base: BaseUrl, prefix: String },
    #[error(
        "cannot publish {name} into a site: its {label} label {value:?} {problem}; appc discovery \
         puts labels into the image URL as they are, so they must be non-empty and use only \
         A-Z a-z 0-9 . _ ~ + -; change the mkACI {label} argument"
    )]
    Label { name: AcIdentifier, label: &'static str, value: String, problem: &'static str },
    #[error(
        "the site {site:?} already holds {name} ({labels}) as image {held}, and this run brings \
         image {new} under the same name and labels; a published image is never replaced \
         (rkt would fetch either under one URL), so nothing was written: give the new image \
         another version (the mkACI version argument) or publish it into another --site"
    )]
    Conflict {
        site: PathBuf,
        name: AcIdentifier,
        labels: String,
        /// Boxed: an image ID is 64 bytes, and errors travel by value.
        held: Box<ImageId>,
        new: Box<ImageId>,
    },
    #[error(
        "the site {site:?} was made for --base-url {held}, not {given}: its pages point at {held}; \
         publish with --base-url {held}, or into another --site"
    )]
    BaseUrlChanged { site: PathBuf, held: String, given: BaseUrl },
    #[error(
        "--site {site:?} is not empty and has no {INDEX_FILE}, so it is not a site mkaci made; \
         name a new or empty directory for --site"
    )]
    NotASite { site: PathBuf },
    #[error("cannot read the site index {path:?}: {message}; check --site, or restore the file")]
    IndexUnreadable { path: PathBuf, message: String },
    #[error(
        "the site index {path:?} is not valid: {message}; restore it from a backup, or publish \
         into a new --site"
    )]
    IndexInvalid { path: PathBuf, message: String },
    #[error(
        "{path:?} is in the site but its index {INDEX_FILE} does not list it, so mkaci cannot tell \
         which image it is; remove it and publish again, or use another --site"
    )]
    Unlisted { path: PathBuf },
    #[error("cannot write {path:?} in the site: {problem}; move it away or use another --site")]
    Blocked { path: PathBuf, problem: &'static str },
    #[error("cannot read {path:?} for the site: {message}")]
    ReadFailed { path: PathBuf, message: String },
    #[error("cannot write {path:?} in the site: {message}; check --site and its permissions, then run again")]
    WriteFailed { path: PathBuf, message: String },
    #[error("cannot export the public key {fingerprint} for the site: {reason}")]
    KeyExport { fingerprint: Fingerprint, reason: GpgError },
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The scheme of a [`BaseUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where the site is served: `http(s)://HOST/PATH/`. appc discovery asks
/// `https://{name}` (then `http://` where allowed) on the default port, so a
/// base URL with another port, user info, a query or a fragment could never
/// answer it, and is refused; the host and path must be able to begin an
/// image name (an AC Identifier), so they are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    /// `host` or `host/path`, no slash at either end: what names start with.
    prefix: String,
}

impl BaseUrl {
    /// Parses a `--base-url` value. The host is lowercased, a default port
    /// (`:80` for http, `:443` for https) dropped and a missing final `/` added.
    pub fn parse(value: &str) -> Result<BaseUrl, SiteError> {
        let bad = |problem: &str| SiteError::BaseUrl { value: value.to_string(), problem: problem.to_string() };
        let (scheme, rest) = match value.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            Some(_) => return Err(bad("is not an http:// or https:// URL (rkt discovers images over https, or http)")),
            None => return Err(bad("has no scheme")),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("has a query or fragment, which discovery URLs never carry"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(bad("has user info"));
        }
        let host = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let default = match scheme {
                    Scheme::Http => "80",
                    Scheme::Https => "443",
                };
                if port != default {
                    return Err(bad(
                        "has a port other than the default; rkt discovers images on port 443 (https) or 80 (http) only",
                    ));
                }
                host
            }
            None => authority,
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let host = host.to_ascii_lowercase();
        if host.contains('/') || host.parse::<AcIdentifier>().is_err() {
            return Err(bad("has a host that cannot begin an image name (a-z 0-9 - . _ ~ only)"));
        }
        let path = path.trim_end_matches('/');
        let prefix = if path.is_empty() { host } else { format!("{host}/{path}") };
        if prefix.parse::<AcIdentifier>().is_err() {
            return Err(bad("has a path that cannot continue an image name (lowercase a-z 0-9 - . _ ~, \
                 one / between parts, each part starting with a letter or digit)"));
        }
        Ok(BaseUrl { scheme, prefix })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `host` or `host/path`: what every name published under it starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL of `rel`, a path relative to the site's root.
    pub fn url(&self, rel: &str) -> String {
        format!("{self}{rel}")
    }

    /// The part of `name` below the base URL (`""` for the base prefix
    /// itself), or `None` when `name` is not at or under it.
    pub fn relative<'a>(&self, name: &'a str) -> Option<&'a str> {
        match name.strip_prefix(self.prefix.as_str())? {
            "" => Some(""),
            rest => rest.strip_prefix('/'),
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}/", self.prefix)
    }
}

impl std::str::FromStr for BaseUrl {
    type Err = SiteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BaseUrl::parse(s)
    }
}

/// An image to publish: what the refusal rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: AcIdentifier,
    pub version: Option<String>,
    pub os: String,
    pub arch: String,
    pub image_id: ImageId,
}

impl Candidate {
    pub fn of(artifact: &Artifact) -> Candidate {
        Candidate {
            name: artifact.name.clone(),
            version: artifact.version.clone(),
            os: artifact.os.clone(),
            arch: artifact.arch.clone(),
            image_id: artifact.digests.image_id,
        }
    }

    /// `_aci/{name}-{version}-{os}-{arch}.aci`, [`TEMPLATE`] filled in as rkt does.
    fn image_rel(&self) -> String {
        let version = self.version.as_deref().unwrap_or(NO_VERSION);
        format!("{IMAGE_DIR}/{}-{version}-{}-{}.aci", self.name, self.os, self.arch)
    }

    fn labels(&self) -> String {
        format!("version={}, os={}, arch={}", self.version.as_deref().unwrap_or("(none)"), self.os, self.arch)
    }

    fn check_labels(&self) -> Result<(), SiteError> {
        let labels =
            [("version", self.version.as_deref()), ("os", Some(self.os.as_str())), ("arch", Some(self.arch.as_str()))];
        for (label, value) in labels {
            let Some(value) = value else { continue };
            let problem = if value.is_empty() {
                Some("is empty")
            } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'-'))
            {
                Some("has a character outside A-Z a-z 0-9 . _ ~ + -")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(SiteError::Label { name: self.name.clone(), label, value: value.to_string(), problem });
            }
        }
        Ok(())
    }
}

/// An image to publish with its files: the image file (checked against the
/// index by postprocess) and, when it was signed, its `.asc` in DIR and the
/// key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publishable {
    pub candidate: Candidate,
    /// An image with an app (run by name); false for a dependency image,
    /// which rkt fetches but cannot run.
    pub app: bool,
    pub image: Checked,
    pub signature: Option<(PathBuf, Fingerprint)>,
}

/// One image as `_site.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Held {
    name: AcIdentifier,
    version: Option<String>,
    os: String,
    arch: String,
    image_id: String,
    /// The image, relative to the site; `.asc` added, its signature.
    file: String,
    /// The key whose signature the site serves, `null` for an unsigned image.
    signer: Option<String>,
}

/// `_site.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SiteIndex {
    nix2aci_site: u64,
    base_url: String,
    /// Sorted by `file`.
    images: Vec<Held>,
}

impl SiteIndex {
    fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// A site directory and the URL it is served at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub dir: PathBuf,
    pub base: BaseUrl,
}

/// What [`Site::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReport {
    /// The files written (or rewritten), in the order written.
    pub written: Vec<PathBuf>,
    /// Images the site held already, left as they were.
    pub kept: Vec<PathBuf>,
    /// The app images of this run, as `name:version` (`name` alone when it
    /// has no version), each once, for `rkt run`.
    pub references: Vec<String>,
    /// The dependency images of this run, the same way, for `rkt fetch`
    /// (they have no app to run).
    pub dependencies: Vec<String>,
    /// Whether any image of this run is served unsigned.
    pub unsigned: bool,
}

/// The checked state of a run: the index to be and what to write.
struct Plan {
    old: Option<SiteIndex>,
    new: SiteIndex,
    /// Images to (re)write: the `file` and the index of what to copy there.
    images: Vec<(String, usize)>,
    kept: Vec<String>,
}

/// A publisher's hold on a site ([`Site::lock`]): released when dropped.
#[must_use = "the site is unlocked when this is dropped"]
#[derive(Debug)]
pub struct SiteLock {
    file: std::fs::File,
    dir: PathBuf,
    created_dir: bool,
}

impl Drop for SiteLock {
    fn drop(&mut self) {
        // A site this run found new and left without an index goes again,
        // removed while still locked: a waiting publisher then finds its
        // lock file gone and takes a new one.
        if self.dir.join(INDEX_FILE).symlink_metadata().is_ok() {
            return;
        }
        let only_lock = std::fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().all(|e| e.file_name() == LOCK_FILE))
            .unwrap_or(false);
        if only_lock {
            let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
            if self.created_dir {
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
        let _ = &self.file; // unlocked as it is closed, after the above
    }
}

impl Site {
    pub fn new(dir: PathBuf, base: BaseUrl) -> Site {
        Site { dir, base }
    }

    /// Takes the site for this publisher: an exclusive `flock` on
    /// [`LOCK_FILE`] in the site (made, and the site directory with it, when
    /// missing), waiting while another publisher holds it. Check and publish
    /// while holding it, so that the index read is the one written over.
    /// Temporary files a publisher killed part-way left are removed.
    pub fn lock(&self) -> Result<SiteLock, SiteError> {
        use rustix::fs::{flock, FlockOperation};
        use std::os::unix::fs::MetadataExt;
        let path = self.path(LOCK_FILE);
        loop {
            let created_dir = self.dir.symlink_metadata().is_err();
            std::fs::create_dir_all(&self.dir).map_err(|e| write_failed(&self.dir, e))?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&path)
                .map_err(|e| write_failed(&path, e))?;
            flock(&file, FlockOperation::LockExclusive).map_err(|e| write_failed(&path, std::io::Error::from(e)))?;
            // The holder before may have removed the file (and the site) as
            // it left: lock the one that is there now.
            let held = file.metadata().map_err(|e| read_failed(&path, e))?;
            let current = path.symlink_metadata();
            if current.is_ok_and(|m| m.dev() == held.dev() && m.ino() == held.ino()) {
                let lock = SiteLock { file, dir: self.dir.clone(), created_dir };
                remove_temporaries(&self.dir);
                return Ok(lock);
            }
        }
    }

    /// Checks the images of these results against the site as
    /// [`Site::publish`] would, writing nothing: run before postprocess, it
    /// keeps a refused site from leaving DIR half updated.
    pub fn check_results(&self, results: &[PathBuf]) -> Result<(), SiteError> {
        let mut candidates = Vec::new();
        for result in results {
            candidates.extend(ResultDir::read(result)?.index.artifacts.iter().map(Candidate::of));
        }
        self.check(&candidates)
    }

    /// Checks `candidates` against the site, writing nothing.
    pub fn check(&self, candidates: &[Candidate]) -> Result<(), SiteError> {
        let images: Vec<(&Candidate, Option<&Fingerprint>)> = candidates.iter().map(|c| (c, None)).collect();
        self.plan(&images).map(|_| ())
    }

    /// Publishes what a postprocess run published into DIR: the images are
    /// copied from the results, the signatures from DIR.
    pub fn publish_report(
        &self,
        report: &Report,
        export: &mut dyn FnMut(&Fingerprint) -> Result<Vec<u8>, GpgError>,
    ) -> Result<SiteReport, SiteError> {
        let images: Vec<Publishable> = report
            .published
            .iter()
            .map(|p| Publishable {
                candidate: Candidate::of(&p.artifact),
                app: p.artifact.kind != crate::result::ArtifactKind::DependencyAci,
                image: p.source.clone(),
                signature: p.signature.clone(),
            })
            .collect();
        self.publish(&images, export)
    }

    /// Checks everything, then writes the index, the images, the keys and the
    /// pages, each only when its bytes change. `export` gives the armored
    /// public key of a signer.
    pub fn publish(
        &self,
        images: &[Publishable],
        export: &mut dyn FnMut(&Fingerprint) -> Result<Vec<u8>, GpgError>,
    ) -> Result<SiteReport, SiteError> {
        let planned: Vec<(&Candidate, Option<&Fingerprint>)> =
            images.iter().map(|p| (&p.candidate, p.signature.as_ref().map(|(_, f)| f))).collect();
        let plan = self.plan(&planned)?;
        // Everything that can fail without writing comes first: the keys and
        // the signatures are read before the first file is written.
        let signers: BTreeSet<&str> = plan.new.images.iter().filter_map(|h| h.signer.as_deref()).collect();
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        let mut exported: BTreeSet<String> = BTreeSet::new();
        for p in images {
            let Some((_, fingerprint)) = &p.signature else { continue };
            let fpr = fingerprint.as_str();
            if !signers.contains(fpr) || !exported.insert(fpr.to_string()) {
                continue;
            }
            let armored = export(fingerprint)
                .map_err(|reason| SiteError::KeyExport { fingerprint: fingerprint.clone(), reason })?;
            keys.push((key_rel(fpr), armored));
        }
        let mut signatures: Vec<Option<Vec<u8>>> = Vec::new();
        for &(_, i) in &plan.images {
            signatures.push(match &images[i].signature {
                Some((asc, _)) => Some(std::fs::read(asc).map_err(|e| read_failed(asc, e))?),
                None => None,
            });
        }
        let pages = pages(&self.base, &plan.new);

        // Everything is staged under temporary names first, then renamed into
        // place: a failure puts back what was renamed (see
        // `fsops::Transaction`). The index goes first, so that a run killed
        // part-way leaves entries whose files are missing, which the same
        // publish completes.
        let mut written = Vec::new();
        let mut txn = fsops::Transaction::default();
        let mut made_dirs = Vec::new();
        let staged = (|| {
            // A run with no ACI (only OCI layouts) makes no site.
            let nothing = plan.old.is_none() && plan.new.images.is_empty();
            if !nothing && plan.old.as_ref() != Some(&plan.new) {
                self.stage_if_changed(&mut txn, INDEX_FILE, &plan.new.to_json(), &mut written, &mut made_dirs)?;
            }
            for ((rel, i), sig) in plan.images.iter().zip(signatures) {
                let p = &images[*i];
                let dest = self.path(rel);
                let asc = self.path(&format!("{rel}.asc"));
                self.make_parent(&dest, &mut made_dirs)?;
                // A signature left from before would belong to other bytes.
                txn.remove(&asc);
                let from = p.image.open().map_err(|e| read_failed(&p.image.path, e))?;
                txn.copy(from, &dest, 0o444).map_err(|e| write_failed(&dest, e))?;
                written.push(dest);
                if let Some(sig) = sig {
                    txn.file(&asc, &sig, 0o644).map_err(|e| write_failed(&asc, e))?;
                    written.push(asc);
                }
            }
            for (rel, armored) in &keys {
                self.stage_if_changed(&mut txn, rel, armored, &mut written, &mut made_dirs)?;
            }
            for (rel, html) in &pages {
                self.stage_if_changed(&mut txn, rel, html.as_bytes(), &mut written, &mut made_dirs)?;
            }
            Ok(())
        })();
        let committed =
            staged.and_then(|()| txn.commit(&|_| true, &mut |_, _| Ok(()), &|path, e| write_failed(path, e)));
        match committed {
            Ok(c) => c.finish(),
            Err(e) => {
                // The directories this run made, when still empty.
                for d in made_dirs.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                return Err(e);
            }
        }

        let reference_list = |app: bool| {
            let mut out: Vec<String> = images
                .iter()
                .filter(|p| p.app == app)
                .map(|p| match &p.candidate.version {
                    Some(v) => format!("{}:{v}", p.candidate.name),
                    None => p.candidate.name.to_string(),
                })
                .collect();
            out.sort();
            out.dedup();
            out
        };
        let (references, dependencies) = (reference_list(true), reference_list(false));
        let unsigned = images
            .iter()
            .any(|p| plan.new.images.iter().any(|h| h.file == p.candidate.image_rel() && h.signer.is_none()));
        Ok(SiteReport {
            written,
            kept: plan.kept.iter().map(|rel| self.path(rel)).collect(),
            references,
            dependencies,
            unsigned,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Reads the site, checks every image against it and decides what to write.
    fn plan(&self, images: &[(&Candidate, Option<&Fingerprint>)]) -> Result<Plan, SiteError> {
        let old = self.read_index()?;
        if let Some(old) = &old {
            if old.base_url != self.base.to_string() {
                return Err(SiteError::BaseUrlChanged {
                    site: self.dir.clone(),
                    held: old.base_url.clone(),
                    given: self.base.clone(),
                });
            }
        }
        let mut held: BTreeMap<String, Held> =
            old.iter().flat_map(|i| i.images.iter()).map(|h| (h.file.clone(), h.clone())).collect();
        let mut this_run: BTreeMap<String, ImageId> = BTreeMap::new();
        let mut to_write = Vec::new();
        let mut kept = Vec::new();
        for (i, &(c, signer)) in images.iter().enumerate() {
            if self.base.relative(c.name.as_str()).is_none() {
                return Err(SiteError::NameOutsideBase {
                    name: c.name.clone(),
                    base: self.base.clone(),
                    prefix: self.base.prefix().to_string(),
                });
            }
            c.check_labels()?;
            let rel = c.image_rel();
            let conflict = |held_id: ImageId| SiteError::Conflict {
                site: self.dir.clone(),
                name: c.name.clone(),
                labels: c.labels(),
                held: Box::new(held_id),
                new: Box::new(c.image_id),
            };
            match this_run.get(&rel) {
                Some(first) if *first == c.image_id => continue, // the same image twice
                Some(first) => return Err(conflict(*first)),
                None => {
                    this_run.insert(rel.clone(), c.image_id);
                }
            }
            let aci = self.path(&rel);
            let asc = self.path(&format!("{rel}.asc"));
            match held.get(&rel) {
                Some(h) => {
                    let held_id: ImageId = h.image_id.parse().map_err(|e: crate::image::image_id::ImageIdError| {
                        SiteError::IndexInvalid { path: self.path(INDEX_FILE), message: e.to_string() }
                    })?;
                    if held_id != c.image_id {
                        return Err(conflict(held_id));
                    }
                    // Complete: the image is there, and so is its signature
                    // unless this run has none to give (then the one there, if
                    // any, stays too).
                    let complete = is_file(&aci) && (signer.is_none() || is_file(&asc));
                    if complete {
                        kept.push(rel);
                        continue;
                    }
                }
                None => {
                    for f in [&aci, &asc] {
                        if f.symlink_metadata().is_ok() {
                            return Err(SiteError::Unlisted { path: f.clone() });
                        }
                    }
                }
            }
            self.check_writable(&rel)?;
            self.check_writable(&format!("{rel}.asc"))?;
            held.insert(
                rel.clone(),
                Held {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    os: c.os.clone(),
                    arch: c.arch.clone(),
                    image_id: c.image_id.to_string(),
                    file: rel.clone(),
                    signer: signer.map(|f| f.to_string()),
                },
            );
            to_write.push((rel, i));
        }
        let new = SiteIndex {
            nix2aci_site: INDEX_VERSION,
            base_url: self.base.to_string(),
            images: held.into_values().collect(),
        };
        // Every page and key the new index calls for must be writable too.
        for (rel, _) in pages(&self.base, &new) {
            self.check_writable(&rel)?;
        }
        for h in &new.images {
            if let Some(s) = &h.signer {
                self.check_writable(&key_rel(s))?;
            }
        }
        Ok(Plan { old, new, images: to_write, kept })
    }

    /// The index, `None` for a new or empty site directory.
    fn read_index(&self) -> Result<Option<SiteIndex>, SiteError> {
        let path = self.path(INDEX_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let index: SiteIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| SiteError::IndexInvalid { path: path.clone(), message: e.to_string() })?;
                if index.nix2aci_site != INDEX_VERSION {
                    return Err(SiteError::IndexInvalid {
                        path,
                        message: format!(
                            "it has version {}, this mkaci reads version {INDEX_VERSION}",
                            index.nix2aci_site
                        ),
                    });
                }
                for h in &index.images {
                    let c = Candidate {
                        name: h.name.clone(),
                        version: h.version.clone(),
                        os: h.os.clone(),
                        arch: h.arch.clone(),
                        image_id: ImageId::from_digest([0; 64]),
                    };
                    // The signer becomes a file name under `_keys/`, the ID goes into pages.
                    let invalid = |message: String| SiteError::IndexInvalid { path: path.clone(), message };
                    if let Some(signer) = &h.signer {
                        signer.parse::<Fingerprint>().map_err(|e| invalid(format!("{}: signer: {e}", h.file)))?;
                    }
                    h.image_id.parse::<ImageId>().map_err(|e| invalid(format!("{}: imageId: {e}", h.file)))?;
                    c.check_labels().map_err(|e| invalid(e.to_string()))?;
                    if h.file != c.image_rel() {
                        return Err(SiteError::IndexInvalid {
                            path,
                            message: format!("{} should be at {}, not {}", h.name, c.image_rel(), h.file),
                        });
                    }
                }
                Ok(Some(index))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_dir(&self.dir) {
                // The lock file and the temporaries of a killed publisher do
                // not make a directory a site, nor something else.
                Ok(entries) => match entries.flatten().find(|e| {
                    let name = e.file_name();
                    name != LOCK_FILE && !name.to_string_lossy().starts_with('.')
                }) {
                    Some(_) => Err(SiteError::NotASite { site: self.dir.clone() }),
                    None => Ok(None),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SiteError::IndexUnreadable { path: self.dir.clone(), message: e.to_string() }),
            },
            Err(e) => Err(SiteError::IndexUnreadable { path, message: e.to_string() }),
        }
    }

    /// `rel` can be written: no file where a directory must be, no directory
    /// where the file goes.
    fn check_writable(&self, rel: &str) -> Result<(), SiteError> {
        let mut dir = self.dir.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            match dir.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(SiteError::Blocked { path: dir, problem: "it is not a directory" }),
                Err(_) => return Ok(()), // made when written
            }
        }
        let path = self.path(rel);
        match path.symlink_metadata() {
            Ok(m) if m.is_dir() => {
                Err(SiteError::Blocked { path, problem: "it is a directory, and a file goes there" })
            }
            _ => Ok(()),
        }
    }

    /// Makes the directories above `path` that are missing, and notes them
    /// in `made`, parents first.
    fn make_parent(&self, path: &Path, made: &mut Vec<PathBuf>) -> Result<(), SiteError> {
        let Some(parent) = path.parent() else { return Ok(()) };
        let mut missing = Vec::new();
        let mut d = parent;
        while d.starts_with(&self.dir) && d.symlink_metadata().is_err() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        std::fs::create_dir_all(parent).map_err(|e| write_failed(parent, e))?;
        made.extend(missing.into_iter().rev());
        Ok(())
    }

    /// Stages `bytes` for `rel` unless it already holds exactly them.
    fn stage_if_changed(
        &self,
        txn: &mut fsops::Transaction,
        rel: &str,
        bytes: &[u8],
        written: &mut Vec<PathBuf>,
        made: &mut Vec<PathBuf>,
    ) -> Result<(), SiteError> {
        let path = self.path(rel);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        self.make_parent(&path, made)?;
        txn.file(&path, bytes, 0o644).map_err(|e| write_failed(&path, e))?;
        written.push(path);
        Ok(())
    }
}

/// Removes the hidden temporary files ([`fsops`] names them
/// `.NAME.tmp-PID-N`) under `dir`; only the holder of the lock writes, so
/// any that are there were left by a publisher killed part-way.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(t) = e.file_type() else { continue };
        if name.starts_with('.') && name.contains(".tmp-") && !t.is_dir() {
            let _ = std::fs::remove_file(e.path());
        } else if t.is_dir() {
            remove_temporaries(&e.path());
        }
    }
}

fn key_rel(fingerprint: &str) -> String {
    format!("{KEY_DIR}/{fingerprint}.gpg")
}

fn is_file(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.is_file())
}

fn read_failed(path: &Path, e: std::io::Error) -> SiteError {
    SiteError::ReadFailed { path: path.to_path_buf(), message: e.to_string() }
}

fn write_failed(path: &Path, e: std::io::Error) -> SiteError {
    SiteError::WriteFailed { path: path.to_path_buf(), message: e.to_string() }
}

/// The discovery pages the index calls for: `(file, html)` for the base
/// prefix and every prefix down to each name, sorted by file.
fn pages(base: &BaseUrl, index: &SiteIndex) -> Vec<(String, String)> {
    let mut prefixes: BTreeSet<String> = BTreeSet::new();
    for h in &index.images {
        let Some(rel) = base.relative(h.name.as_str()) else { continue };
        prefixes.insert(String::new());
        let mut acc = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            prefixes.insert(acc.clone());
        }
    }
    prefixes
        .into_iter()
        .map(|rel| {
            let file = if rel.is_empty() { "index.html".to_string() } else { format!("{rel}/index.html") };
            let prefix = if rel.is_empty() { base.prefix().to_string() } else { format!("{}/{rel}", base.prefix()) };
            (file, page(base, &prefix, index))
        })
        .collect()
}

/// Whether `name` is `prefix` or under it, path-wise.
fn is_under(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The page answering discovery for `prefix`: the template, the keys of the
/// images at or under it, and a list of those images for people.
fn page(base: &BaseUrl, prefix: &str, index: &SiteIndex) -> String {
    let under: Vec<&Held> = index.images.iter().filter(|h| is_under(h.name.as_str(), prefix)).collect();
    let signers: BTreeSet<&str> = under.iter().filter_map(|h| h.signer.as_deref()).collect();
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str(&format!("<title>{}</title>\n", escape(prefix)));
    html.push_str(&format!(
        "<meta name=\"ac-discovery\" content=\"{} {}\">\n",
        escape(prefix),
        escape(&base.url(TEMPLATE))
    ));
    for s in &signers {
        html.push_str(&format!(
            "<meta name=\"ac-discovery-pubkeys\" content=\"{} {}\">\n",
            escape(prefix),
            escape(&base.url(&key_rel(s)))
        ));
    }
    html.push_str("</head>\n<body>\n");
    html.push_str(&format!("<h1>{}</h1>\n", escape(prefix)));
    html.push_str(
        "<p>appc image discovery (<a href=\"https://github.com/appc/spec/blob/v0.8.11/spec/discovery.md\">\
         spec</a>) for the images named here and below, e.g. <code>rkt trust --prefix=",
    );
    html.push_str(&escape(prefix));
    html.push_str("</code>.</p>\n<ul>\n");
    for h in &under {
        let url = base.url(&h.file);
        html.push_str(&format!(
            "<li><a href=\"{}\">{}</a> {} {}/{} {}",
            escape(&url),
            escape(h.name.as_str()),
            escape(h.version.as_deref().unwrap_or(NO_VERSION)),
            escape(&h.os),
            escape(&h.arch),
            escape(&h.image_id)
        ));
        if h.signer.is_some() {
            html.push_str(&format!(" (<a href=\"{}.asc\">signature</a>)", escape(&url)));
        }
        html.push_str("</li>\n");
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}

/// HTML escaping for text and attribute values.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPR_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const FPR_B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn id(n: u8) -> ImageId {
        ImageId::from_digest([n; 64])
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        site: Site,
        src: PathBuf,
    }

    fn fixture(base: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let site = Site::new(tmp.path().join("site"), BaseUrl::parse(base).unwrap());
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        Fixture { _tmp: tmp, site, src }
    }

    impl Fixture {
        /// An image file `name` with `bytes`, signed by `signer` (an `.asc` beside it).
        fn image(&self, name: &str, version: Option<&str>, n: u8, signer: Option<&str>) -> Publishable {
            let image = self.src.join(format!("{}-{n}.aci", name.replace('/', "_")));
            std::fs::write(&image, [n; 16]).unwrap();
            let signature = signer.map(|s| {
                let asc = image.with_extension("aci.asc");
                std::fs::write(&asc, format!("sig of {n} by {s}")).unwrap();
                (asc, s.parse().unwrap())
            });
            let image = Checked::file(&image).unwrap();
            Publishable {
                candidate: Candidate {
                    name: name.parse().unwrap(),
                    version: version.map(str::to_string),
                    os: "linux".into(),
                    arch: "amd64".into(),
                    image_id: id(n),
                },
                app: !name.contains("/deps/"),
                image,
                signature,
            }
        }

        fn publish(&self, images: &[Publishable]) -> Result<SiteReport, SiteError> {
            self.site.publish(images, &mut |f| Ok(format!("key {f}\n").into_bytes()))
        }

        fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.site.dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
        }

        /// Every file in the site with its bytes and mtime.
        fn snapshot(&self) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
            fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)>) {
                for e in std::fs::read_dir(dir).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        walk(&p, out);
                    } else {
                        let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                        out.insert(p.clone(), (std::fs::read(&p).unwrap(), m));
                    }
                }
            }
            let mut out = BTreeMap::new();
            if self.site.dir.exists() {
                walk(&self.site.dir, &mut out);
            }
            out
        }
    }

    #[test]
    fn base_url_parsing() {
        let ok = |v: &str| BaseUrl::parse(v).unwrap().to_string();
        assert_eq!(ok("http://localhost/"), "http://localhost/");
        assert_eq!(ok("http://localhost"), "http://localhost/");
        assert_eq!(ok("HTTPS://Example.COM:443/aci"), "https://example.com/aci/");
        assert_eq!(ok("http://localhost:80/sub/x/"), "http://localhost/sub/x/");
        assert_eq!(BaseUrl::parse("http://localhost/sub/").unwrap().prefix(), "localhost/sub");
        for bad in [
            "localhost/",
            "ftp://localhost/",
            "file:///srv/site",
            "http://localhost:8080/",
            "https://localhost:80/",
            "http://user@localhost/",
            "http:///x",
            "http://localhost/?a=1",
            "http://localhost/#x",
            "http://localhost/Sub/",
            "http://localhost//x/",
            "http://localhost/a/../b/",
            "http://[::1]/",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(matches!(&e, SiteError::BaseUrl { value, .. } if value == bad), "{bad}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains("--base-url") && msg.contains(bad) && msg.contains("e.g. --base-url"), "{msg}");
        }
    }

    #[test]
    fn relative_names() {
        let base = BaseUrl::parse("http://localhost/sub/").unwrap();
        assert_eq!(base.relative("localhost/sub"), Some(""));
        assert_eq!(base.relative("localhost/sub/a/b"), Some("a/b"));
        assert_eq!(base.relative("localhost/subway"), None);
        assert_eq!(base.relative("localhost"), None);
        assert_eq!(base.relative("example.com/sub/a"), None);
    }

    #[test]
    fn dependencies_are_fetched_not_run() {
        let f = fixture("http://localhost/");
        let app = f.image("localhost/app", Some("1"), 1, Some(FPR_A));
        let dep = f.image("localhost/deps/libs", None, 2, Some(FPR_A));
        let report = f.publish(&[app, dep]).unwrap();
        assert_eq!(report.references, ["localhost/app:1"]);
        assert_eq!(report.dependencies, ["localhost/deps/libs"]);
    }

    #[test]
    fn layout_pages_and_keys() {
        let f = fixture("http://localhost/");
        let bb = f.image("localhost/tools/busybox", Some("1.35.0"), 1, Some(FPR_A));
        let report = f.publish(std::slice::from_ref(&bb)).unwrap();
        let aci = "_aci/localhost/tools/busybox-1.35.0-linux-amd64.aci";
        assert_eq!(std::fs::read(f.site.dir.join(aci)).unwrap(), [1; 16]);
        assert_eq!(f.read(&format!("{aci}.asc")), format!("sig of 1 by {FPR_A}"));
        assert_eq!(f.read(&format!("_keys/{FPR_A}.gpg")), format!("key {FPR_A}\n"));
        assert_eq!(report.dependencies, Vec::<String>::new());
        assert_eq!(report.references, ["localhost/tools/busybox:1.35.0"]);
        assert!(!report.unsigned);
        let template = "http://localhost/_aci/{name}-{version}-{os}-{arch}.{ext}";
        for (page, prefix) in [
            ("index.html", "localhost"),
            ("tools/index.html", "localhost/tools"),
            ("tools/busybox/index.html", "localhost/tools/busybox"),
        ] {
            let html = f.read(page);
            assert!(html.contains(&format!("<meta name=\"ac-discovery\" content=\"{prefix} {template}\">")), "{html}");
            assert!(
                html.contains(&format!(
                    "<meta name=\"ac-discovery-pubkeys\" content=\"{prefix} http://localhost/_keys/{FPR_A}.gpg\">"
                )),
                "{html}"
            );
        }
        let index: SiteIndex = serde_json::from_str(&f.read(INDEX_FILE)).unwrap();
        assert_eq!(index.base_url, "http://localhost/");
        assert_eq!(index.images.len(), 1);
        assert_eq!(index.images[0].file, aci);
        assert_eq!(index.images[0].signer.as_deref(), Some(FPR_A));
        // The files are copies, not links into the source.
        assert!(!f.site.dir.join(aci).symlink_metadata().unwrap().file_type().is_symlink());
        // No temporary file is left.
        let snap = f.snapshot();
        assert!(snap.keys().all(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.')), "{snap:?}");
    }

    #[test]
    fn the_same_image_again_writes_nothing() {
        let f = fixture("http://localhost/");
        let bb = f.image("localhost/busybox", Some("1"), 1, Some(FPR_A));
        f.publish(std::slice::from_ref(&bb)).unwrap();
        let before = f.snapshot();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A new signature of the same image (by another key, even) is not served:
        // the one there stays, as does the index.
        let again = f.image("localhost/busybox", Some("1"), 1, Some(FPR_B));
        let report = f.publish(&[again]).unwrap();
        assert_eq!(report.written, Vec::<PathBuf>::new());
        assert_eq!(report.kept, [f.site.dir.join("_aci/localhost/busybox-1-linux-amd64.aci")]);
        assert_eq!(f.snapshot(), before);
    }

    #[test]
    fn a_different_image_under_the_same_labels_is_refused_and_nothing_written() {
        let f = fixture("http://localhost/");
        f.publish(&[f.image("localhost/busybox", Some("1"), 1, Some(FPR_A))]).unwrap();
        let before = f.snapshot();
        // A new image (written) next to the conflicting one: neither is published.
        let other = f.image("localhost/other", Some("1"), 3, Some(FPR_A));
        let bad = f.image("localhost/busybox", Some("1"), 2, Some(FPR_A));
        let e = f.publish(&[other.clone(), bad.clone()]).unwrap_err();
        match &e {
            SiteError::Conflict { name, held, new, labels, .. } => {
                assert_eq!(name.as_str(), "localhost/busybox");
                assert_eq!((**held, **new), (id(1), id(2)));
                assert_eq!(labels, "version=1, os=linux, arch=amd64");
            }
            e => panic!("{e:?}"),
        }
        let msg = e.to_string();
        for part in ["localhost/busybox", &id(1).to_string(), &id(2).to_string(), "version=1", "another version"] {
            assert!(msg.contains(part), "{part} not in {msg}");
        }
        assert!(matches!(
            f.site.check(&[other.candidate.clone(), bad.candidate.clone()]),
            Err(SiteError::Conflict { .. })
        ));
        assert_eq!(f.snapshot(), before);
        // Two different images under one file in one run: refused as well.
        let f2 = fixture("http://localhost/");
        let a = f2.image("localhost/x", None, 1, None);
        let b = f2.image("localhost/x", Some("latest"), 2, None);
        assert!(matches!(f2.publish(&[a, b]), Err(SiteError::Conflict { .. })));
        assert!(f2.snapshot().is_empty());
    }

    #[test]
    fn a_later_key_keeps_the_earlier_one_answerable() {
        let f = fixture("http://localhost/");
        f.publish(&[f.image("localhost/busybox", Some("1"), 1, Some(FPR_A))]).unwrap();
        f.publish(&[f.image("localhost/busybox", Some("2"), 2, Some(FPR_B))]).unwrap();
        f.publish(&[f.image("localhost/bash", Some("5"), 3, Some(FPR_B))]).unwrap();
        for fpr in [FPR_A, FPR_B] {
            assert!(f.site.dir.join(format!("_keys/{fpr}.gpg")).is_file());
        }
        let root = f.read("index.html");
        let bb = f.read("busybox/index.html");
        let bash = f.read("bash/index.html");
        for fpr in [FPR_A, FPR_B] {
            assert!(root.contains(&format!("_keys/{fpr}.gpg")) && bb.contains(&format!("_keys/{fpr}.gpg")));
        }
        assert!(bash.contains(&format!("_keys/{FPR_B}.gpg")) && !bash.contains(FPR_A), "{bash}");
        let index: SiteIndex = serde_json::from_str(&f.read(INDEX_FILE)).unwrap();
        assert_eq!(index.images.len(), 3);
    }

    #[test]
    fn sub_path_base_url() {
        let f = fixture("http://localhost/sub/");
        f.publish(&[f.image("localhost/sub/busybox", Some("1"), 1, Some(FPR_A))]).unwrap();
        let root = f.read("index.html");
        assert!(root.contains(
            "<meta name=\"ac-discovery\" content=\"localhost/sub http://localhost/sub/_aci/{name}-{version}-{os}-{arch}.{ext}\">"
        ));
        assert!(f.read("busybox/index.html").contains("content=\"localhost/sub/busybox "));
        assert!(f.site.dir.join("_aci/localhost/sub/busybox-1-linux-amd64.aci").is_file());
        // A name the base URL cannot answer is refused before anything is written.
        let before = f.snapshot();
        for name in ["localhost/busybox", "localhost/subway", "example.com/sub/x"] {
            let e = f.publish(&[f.image(name, Some("1"), 2, None)]).unwrap_err();
            assert!(matches!(&e, SiteError::NameOutsideBase { name: n, .. } if n.as_str() == name), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains(name)
                    && msg.contains("--base-url http://localhost/sub/")
                    && msg.contains("localhost/sub/<something>"),
                "{msg}"
            );
        }
        assert_eq!(f.snapshot(), before);
        // The base prefix itself is a name too: its page is the root page.
        f.publish(&[f.image("localhost/sub", None, 3, None)]).unwrap();
        assert!(f.site.dir.join("_aci/localhost/sub-latest-linux-amd64.aci").is_file());
        let report = f.publish(&[f.image("localhost/sub", None, 3, None)]).unwrap();
        assert_eq!(report.references, ["localhost/sub"]);
        assert!(report.unsigned);
    }

    #[test]
    fn refusals_of_the_site_itself() {
        let f = fixture("http://localhost/");
        let img = f.image("localhost/busybox", Some("1"), 1, None);
        // A directory with other things in it is not taken over.
        std::fs::create_dir_all(&f.site.dir).unwrap();
        std::fs::write(f.site.dir.join("notes.txt"), "mine").unwrap();
        assert!(matches!(f.publish(std::slice::from_ref(&img)), Err(SiteError::NotASite { .. })));
        std::fs::remove_file(f.site.dir.join("notes.txt")).unwrap();
        f.publish(std::slice::from_ref(&img)).unwrap();
        // Another base URL.
        let other = Site::new(f.site.dir.clone(), BaseUrl::parse("https://localhost/").unwrap());
        let e = other.publish(std::slice::from_ref(&img), &mut |_| unreachable!()).unwrap_err();
        assert!(matches!(e, SiteError::BaseUrlChanged { .. }), "{e:?}");
        assert!(e.to_string().contains("--base-url http://localhost/"));
        // A file the index does not list where an image goes.
        let stray = f.site.dir.join("_aci/localhost/stray-1-linux-amd64.aci");
        std::fs::write(&stray, "?").unwrap();
        let e = f.publish(&[f.image("localhost/stray", Some("1"), 2, None)]).unwrap_err();
        assert_eq!(e, SiteError::Unlisted { path: stray });
        // A file where a page's directory goes.
        std::fs::write(f.site.dir.join("blocked"), "?").unwrap();
        let e = f.publish(&[f.image("localhost/blocked/x", Some("1"), 3, None)]).unwrap_err();
        assert!(matches!(&e, SiteError::Blocked { path, .. } if path.ends_with("blocked")), "{e:?}");
        // A label that cannot go into a URL as it is.
        let mut bad = f.image("localhost/busybox", Some("1/2"), 4, None);
        assert!(matches!(f.publish(std::slice::from_ref(&bad)), Err(SiteError::Label { label: "version", .. })));
        bad.candidate.version = Some(String::new());
        assert!(matches!(f.publish(&[bad]), Err(SiteError::Label { label: "version", .. })));
        // A broken index: not one at all, or a signer that is no fingerprint
        // (it would become a path under _keys/).
        let good = f.read(INDEX_FILE);
        std::fs::write(f.site.dir.join(INDEX_FILE), "{}").unwrap();
        assert!(matches!(f.publish(std::slice::from_ref(&img)), Err(SiteError::IndexInvalid { .. })));
        let bad_signer = good.replace("\"signer\": null", "\"signer\": \"../../x\"");
        assert_ne!(bad_signer, good);
        std::fs::write(f.site.dir.join(INDEX_FILE), bad_signer).unwrap();
        let e = f.publish(&[img]).unwrap_err();
        assert!(matches!(&e, SiteError::IndexInvalid { message, .. } if message.contains("signer")), "{e:?}");
    }

    #[test]
    fn missing_files_of_a_held_image_are_written_again() {
        let f = fixture("http://localhost/");
        let img = f.image("localhost/busybox", Some("1"), 1, Some(FPR_A));
        f.publish(std::slice::from_ref(&img)).unwrap();
        let asc = f.site.dir.join("_aci/localhost/busybox-1-linux-amd64.aci.asc");
        std::fs::remove_file(&asc).unwrap();
        let report = f.publish(&[img]).unwrap();
        assert_eq!(report.written, [f.site.dir.join("_aci/localhost/busybox-1-linux-amd64.aci"), asc.clone()]);
        assert!(asc.is_file());
    }

    #[test]
    fn a_failed_key_export_writes_nothing() {
        let f = fixture("http://localhost/");
        let img = f.image("localhost/busybox", Some("1"), 1, Some(FPR_A));
        let e = f
            .site
            .publish(&[img], &mut |fpr| {
                Err(GpgError::ExportFailed { fingerprint: fpr.clone(), gpg_message: "no key".into() })
            })
            .unwrap_err();
        assert!(matches!(e, SiteError::KeyExport { .. }), "{e:?}");
        assert!(f.snapshot().is_empty());
    }

    #[test]
    fn no_image_makes_no_site() {
        let f = fixture("http://localhost/");
        assert_eq!(f.publish(&[]).unwrap().written, Vec::<PathBuf>::new());
        assert!(!f.site.dir.exists());
    }

    #[test]
    fn pages_escape_nothing_they_need_not() {
        assert_eq!(escape("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
        assert!(is_under("a/b", "a") && is_under("a", "a") && !is_under("ab", "a"));
    }
}
