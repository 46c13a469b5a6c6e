//! `mkaci verify DIR/<image>.aci`: tells whether a published image is sound.
//! It checks, in order, and stops at the first failure:
//! 0. that the image is there: a link whose target is gone (an image removed
//!    by garbage collection) is named as such;
//! 1. the signature `<image>.aci.asc` over the image, with the user's gpg and
//!    keyring, warning when rkt could not verify its algorithm;
//! 2. the archive layout and the image ID, recomputed in one streaming pass
//!    ([`crate::check::inspect::read_image`]);
//! 3. the manifest inside the image against every appc rule
//!    ([`ImageManifest::from_json_slice`]);
//! 4. when the image is (or links to) a file of a result, the image ID against
//!    the result's index `nix2aci.json` and the `.id` file it names;
//! 5. when the manifest pins a closure SBOM (the annotation
//!    [`crate::image::sbom::ANNOTATION`]), the SHA-256 of `<base>.closure.json`
//!    beside the image (the published copy, or the result's) against it;
//! 6. every dependency the manifest pins (a layered image's), found beside
//!    the image under the file name its name and labels give: present,
//!    signed, and with the pinned image ID and size; then, in turn, its own
//!    dependencies.
//!
//! `docs/appc.md` describes the rules.

use std::path::{Path, PathBuf};

use crate::archive::untrusted::{open_regular, read_bounded, UntrustedFileError};
use crate::check::inspect::{read_image, ImageReport, InspectError};
use crate::image::image_id::{ImageId, ImageIdError};
use crate::image::manifest::{ImageManifest, ManifestError};
use crate::image::sbom::{check_beside, PinnedSbom, SbomError};
use crate::publish::sign::{GoodSignature, Gpg, GpgError};
use crate::result::{signature_name, FileName, ImageBase, IndexError, ResultDir, INDEX_FILE};

/// Why an image failed verification. Each message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{image:?} does not exist or is not readable ({message}); pass DIR/<image>.aci as written by postprocess.sh"
    )]
    MissingImage { image: PathBuf, message: String },
    #[error(
        "{image:?} is a link to {target:?}, which no longer exists: the image was removed, most \
         likely by garbage collection; rebuild it and run postprocess.sh again (it registers \
         its links as GC roots), or publish copies with postprocess --copy"
    )]
    DanglingLink { image: PathBuf, target: PathBuf },
    #[error(
        "{image:?} has no signature {signature:?}; sign it by running postprocess.sh again, or \
         the image was built with sign = false and can only be run with --insecure-options=image"
    )]
    MissingSignature { image: PathBuf, signature: PathBuf },
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(
        "cannot check {signature:?}: the signer's public key {key_id} is not in your keyring and \
         no --trust key file holds it; if you trust it, pass `--trust PREFIX={keyfile}` for the \
         image names it may sign (postprocess exports it there), or import it with `gpg --import \
         {keyfile}` and certify it (`gpg --lsign-key {key_id}`)"
    )]
    UnknownSigner { signature: PathBuf, key_id: String, keyfile: String },
    #[error(
        "{signature:?} is a good signature by {user_id} (key {fingerprint}), but your keyring holds \
         that key {trust}, and only fully or ultimately valid keys are accepted (as rkt trusts only \
         the keys given to `rkt trust`); if you trust it, pass `--trust PREFIX={keyfile}` for the \
         image names it may sign, or certify it in gpg: `gpg --lsign-key {fingerprint}`"
    )]
    UntrustedSigner {
        signature: PathBuf,
        user_id: String,
        fingerprint: String,
        trust: crate::publish::sign::KeyTrust,
        keyfile: String,
    },
    #[error(
        "{image:?} is named {name:?} and signed by key {fingerprint}, which is trusted only for \
         the names under {prefixes} (--trust); the key may not sign this name: trust it for the \
         name with `--trust {name}=KEYFILE` if you mean to"
    )]
    UntrustedForName { image: PathBuf, name: String, fingerprint: String, prefixes: String },
    #[error(
        "--trust {value:?} is not PREFIX=KEYFILE: {problem}; for example \
         `--trust example.com/app=DIR/pubkeys.gpg` trusts the keys in that file for \
         example.com/app and the names below it"
    )]
    BadTrust { value: String, problem: &'static str },
    #[error("{image:?}: {error}")]
    File { image: PathBuf, error: UntrustedFileError },
    #[error("cannot read the image ID file {path:?}: {message}")]
    UnreadableIdFile { path: PathBuf, message: String },
    #[error("the image ID file {path:?} is invalid: {error}; rebuild the image")]
    BadIdFile { path: PathBuf, error: ImageIdError },
    #[error(
        "{image:?} has image ID {found}, but {recorded_in:?} says {expected}: the image was changed \
         after it was built; rebuild it"
    )]
    IdMismatch { image: PathBuf, recorded_in: PathBuf, expected: Box<ImageId>, found: Box<ImageId> },
    #[error("{image:?} lies in a result whose index cannot be read: {error}")]
    Index { image: PathBuf, error: IndexError },
    #[error("{image:?} lies in the result {result:?}, but its index does not list {file:?}; rebuild the image")]
    NotInIndex { image: PathBuf, result: PathBuf, file: String },
    #[error("{image:?} is signed but its archive is not a valid ACI: {error}; rebuild the image")]
    Layout { image: PathBuf, error: Box<InspectError> },
    #[error("{image:?}: its manifest breaks the appc rules: {error}; rebuild the image")]
    Manifest { image: PathBuf, error: ManifestError },
    #[error(
        "{image:?} depends on {name} ({labels}), which should be published beside it as {expected:?}, \
         but {problem}; publish the image's result again with postprocess.sh, which publishes its \
         dependencies too"
    )]
    MissingDependency { image: PathBuf, name: String, labels: String, expected: PathBuf, problem: String },
    #[error(
        "{image:?} pins its dependency {dependency:?} with {what} {pinned}, but the published \
         file has {found}; the dependency was replaced by another build: publish both from the \
         same result again"
    )]
    DependencyMismatch { image: PathBuf, dependency: PathBuf, what: &'static str, pinned: String, found: String },
    #[error("{image:?}: its dependency does not verify: {error}")]
    Dependency { image: PathBuf, error: Box<VerifyError> },
    #[error(transparent)]
    Sbom(#[from] SbomError),
}

/// `--trust PREFIX=KEYFILE`: the keys in `keyfile` are trusted to sign the
/// images named `prefix` or below it (whole name components, as `rkt trust
/// --prefix` does: `example.com` covers `example.com/app`, not
/// `example.com.evil/app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixTrust {
    pub prefix: String,
    pub keyfile: PathBuf,
}

impl std::str::FromStr for PrefixTrust {
    type Err = VerifyError;

    fn from_str(value: &str) -> Result<PrefixTrust, VerifyError> {
        let bad = |problem| VerifyError::BadTrust { value: value.into(), problem };
        let (prefix, keyfile) = value.split_once('=').ok_or_else(|| bad("it has no '='"))?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err(bad("the prefix is empty (a key trusted for every name belongs in your gpg keyring)"));
        }
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the prefix holds a space or a control character"));
        }
        if keyfile.is_empty() {
            return Err(bad("the key file is empty"));
        }
        Ok(PrefixTrust { prefix: prefix.into(), keyfile: keyfile.into() })
    }
}

impl PrefixTrust {
    /// Whether `name` is the prefix or lies below it.
    pub fn covers(&self, name: &str) -> bool {
        name.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Why the signature was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedBy {
    /// gpg holds the key fully or ultimately valid.
    Keyring,
    /// A `--trust` key file for a prefix of the image's name.
    Prefix(PrefixTrust),
}

/// A good signature, and what trusts it.
#[derive(Debug, Clone)]
pub struct TrustedSignature {
    pub signature: GoodSignature,
    pub trusted_by: TrustedBy,
}

/// A good signature whose trust is settled once the image's name is known:
/// by the keyring, or by any of these `--trust` entries whose key file
/// holds the key.
struct Signed {
    signature: GoodSignature,
    keyring: bool,
    prefixes: Vec<PrefixTrust>,
}

impl Signed {
    fn trusted_for(self, image: &Path, name: &str) -> Result<TrustedSignature, VerifyError> {
        if self.keyring {
            return Ok(TrustedSignature { signature: self.signature, trusted_by: TrustedBy::Keyring });
        }
        match self.prefixes.iter().find(|p| p.covers(name)) {
            Some(p) => Ok(TrustedSignature { signature: self.signature, trusted_by: TrustedBy::Prefix(p.clone()) }),
            None => Err(VerifyError::UntrustedForName {
                image: image.into(),
                name: name.into(),
                fingerprint: self.signature.primary.to_string(),
                prefixes: self.prefixes.iter().map(|p| p.prefix.as_str()).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

/// Largest signature file passed to gpg: an armored signature is a few KiB.
pub const MAX_SIGNATURE_SIZE: u64 = 64 << 10;

/// Largest result index `nix2aci.json` read; a result of many images with
/// large closures has a few MiB.
pub const MAX_INDEX_SIZE: u64 = 64 << 20;

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    pub signature: TrustedSignature,
    pub report: ImageReport,
    pub manifest: ImageManifest,
    /// The files the image ID was compared with: the result's index and the
    /// `.id` file it names. Empty for an image outside a result (a copy).
    pub recorded_in: Vec<PathBuf>,
    /// The closure SBOM beside the image that matched the manifest's pin;
    /// `None` when the manifest pins none (an image built before SBOMs).
    pub sbom: Option<PinnedSbom>,
    /// The dependency images checked (step 6), each once, in the order met.
    pub dependencies: Vec<PathBuf>,
}

/// Runs every check of the module docs on `image` (`DIR/<image>.aci`),
/// accepting signatures by keys gpg holds fully or ultimately valid, and by
/// the keys of a `trust` entry for a prefix of the image's name.
pub fn verify(gpg: &Gpg, image: &Path, trust: &[PrefixTrust]) -> Result<Verified, VerifyError> {
    let signed = check_signature(gpg, image, trust)?;
    let report =
        read_image(image).map_err(|error| VerifyError::Layout { image: image.into(), error: Box::new(error) })?;
    let (manifest, recorded_in) = check_report(image, &report)?;
    let signature = signed.trusted_for(image, manifest.name.as_str())?;
    let sbom = check_beside(image, &manifest)?;
    let mut dependencies = Vec::new();
    check_dependencies(gpg, trust, image, &manifest, &mut dependencies)?;
    Ok(Verified { signature, report, manifest, recorded_in, sbom, dependencies })
}

/// Step 6 for the dependencies of `manifest` (the image at `image`), and
/// theirs; `seen` collects each dependency checked.
fn check_dependencies(
    gpg: &Gpg,
    trust: &[PrefixTrust],
    image: &Path,
    manifest: &ImageManifest,
    seen: &mut Vec<PathBuf>,
) -> Result<(), VerifyError> {
    for dep in &manifest.dependencies {
        let label = |n: &str| dep.labels.iter().find(|l| l.name.as_str() == n).map(|l| l.value.as_str());
        let labels = dep.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(",");
        let missing = |expected: PathBuf, problem: String| VerifyError::MissingDependency {
            image: image.into(),
            name: dep.image_name.to_string(),
            labels: labels.clone(),
            expected,
            problem,
        };
        let (Some(os), Some(arch)) = (label("os"), label("arch")) else {
            return Err(missing(PathBuf::new(), "its entry has no os and arch labels to name the file by".into()));
        };
        let file = ImageBase::new(&dep.image_name, label("version"), os, arch).aci();
        let path = image.with_file_name(file.as_str());
        if seen.contains(&path) {
            continue;
        }
        if let Err(e) = check_present(&path) {
            let problem = match e {
                VerifyError::DanglingLink { target, .. } => {
                    format!("it is a link to {target:?}, which no longer exists")
                }
                VerifyError::MissingImage { message, .. } => format!("it is not there ({message})"),
                other => other.to_string(),
            };
            return Err(missing(path, problem));
        }
        let size =
            std::fs::metadata(&path).map_err(|e| missing(path.clone(), format!("it cannot be read ({e})")))?.len();
        let wrap = |error: VerifyError| VerifyError::Dependency { image: image.into(), error: Box::new(error) };
        let signed = check_signature(gpg, &path, trust).map_err(wrap)?;
        let report = read_image(&path)
            .map_err(|error| wrap(VerifyError::Layout { image: path.clone(), error: Box::new(error) }))?;
        if let Some(pinned) = &dep.image_id {
            if *pinned != report.image_id {
                return Err(VerifyError::DependencyMismatch {
                    image: image.into(),
                    dependency: path,
                    what: "image ID",
                    pinned: pinned.to_string(),
                    found: report.image_id.to_string(),
                });
            }
        }
        if let Some(pinned) = dep.size {
            if pinned != size {
                return Err(VerifyError::DependencyMismatch {
                    image: image.into(),
                    dependency: path,
                    what: "size",
                    pinned: format!("{pinned} bytes"),
                    found: format!("{size} bytes"),
                });
            }
        }
        let (dep_manifest, _) = check_report(&path, &report).map_err(wrap)?;
        signed.trusted_for(&path, dep_manifest.name.as_str()).map_err(wrap)?;
        seen.push(path.clone());
        check_dependencies(gpg, trust, &path, &dep_manifest, seen)?;
    }
    Ok(())
}

/// Step 0: the image exists; a dangling link is reported as such.
pub fn check_present(image: &Path) -> Result<(), VerifyError> {
    match std::fs::metadata(image) {
        Ok(_) => Ok(()),
        Err(e) => match std::fs::read_link(image) {
            Ok(target) => Err(VerifyError::DanglingLink { image: image.into(), target }),
            Err(_) => Err(VerifyError::MissingImage { image: image.into(), message: e.to_string() }),
        },
    }
}

/// Steps 3 and 4 on an image already read by [`read_image`]: the manifest
/// rules, and the image ID against what the result recorded. Returns the
/// manifest and the files compared with. Shared with `mkaci inspect --verify`.
pub fn check_report(image: &Path, report: &ImageReport) -> Result<(ImageManifest, Vec<PathBuf>), VerifyError> {
    let manifest = ImageManifest::from_json_slice(&report.manifest_bytes)
        .map_err(|error| VerifyError::Manifest { image: image.into(), error })?;
    let mut recorded_in = Vec::new();
    if let Some((result, file)) = containing_result(image) {
        // The index is read whole: refuse a huge one before it is.
        let index = result.join(INDEX_FILE);
        let (_, size) = open_regular(&index).map_err(|error| VerifyError::File { image: image.into(), error })?;
        if size > MAX_INDEX_SIZE {
            let error =
                UntrustedFileError::TooLarge { path: index, what: "a result index", size, limit: MAX_INDEX_SIZE };
            return Err(VerifyError::File { image: image.into(), error });
        }
        let r = ResultDir::read(&result).map_err(|error| VerifyError::Index { image: image.into(), error })?;
        let artifact = r.artifact(&file).ok_or_else(|| VerifyError::NotInIndex {
            image: image.into(),
            result: r.dir.clone(),
            file: file.clone(),
        })?;
        let index_file = r.dir.join(INDEX_FILE);
        let id_file = r.dir.join(&artifact.files.id);
        for (recorded, expected) in
            [(index_file, artifact.digests.image_id), (id_file.clone(), read_id_file(&id_file)?)]
        {
            if expected != report.image_id {
                return Err(VerifyError::IdMismatch {
                    image: image.into(),
                    recorded_in: recorded,
                    expected: Box::new(expected),
                    found: Box::new(report.image_id),
                });
            }
            recorded_in.push(recorded);
        }
    }
    Ok((manifest, recorded_in))
}

/// The result directory the image file lives in (following links) and the
/// image's file name there, when that directory is a result.
fn containing_result(image: &Path) -> Option<(PathBuf, String)> {
    let real = std::fs::canonicalize(image).ok()?;
    let dir = real.parent()?;
    let file = real.file_name()?.to_str()?.to_string();
    dir.join(INDEX_FILE).is_file().then(|| (dir.to_path_buf(), file))
}

/// The file name `mkaci build` gives an image with this manifest, when the os
/// and arch labels are there.
pub fn expected_file_name(manifest: &ImageManifest) -> Option<FileName> {
    ImageBase::of_manifest(manifest).map(|b| b.aci())
}

/// `<image>.aci.asc` for `<image>.aci`.
pub fn signature_path(image: &Path) -> PathBuf {
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| FileName::try_from(n.to_string()).ok())
        .map(|n| signature_name(&n).to_string());
    match name {
        Some(n) => image.with_file_name(n),
        None => {
            let mut s = image.as_os_str().to_os_string();
            s.push(".asc");
            PathBuf::from(s)
        }
    }
}

/// Reads a `.id` file: `sha512-<128 hex>` and a newline.
pub fn read_id_file(path: &Path) -> Result<ImageId, VerifyError> {
    let bytes = read_bounded(path, 1024, "an image ID file")
        .map_err(|e| VerifyError::UnreadableIdFile { path: path.into(), message: e.to_string() })?;
    let text = String::from_utf8_lossy(&bytes);
    let value = text.strip_suffix('\n').unwrap_or(&text);
    value.parse::<ImageId>().map_err(|error| VerifyError::BadIdFile { path: path.into(), error })
}

/// Steps 0 and 1: the image is there, and its signature is good and by a
/// key gpg holds valid; the `--trust` entries are not consulted (see
/// [`verify`] for those).
pub fn verify_signature(gpg: &Gpg, image: &Path) -> Result<GoodSignature, VerifyError> {
    let signed = check_signature(gpg, image, &[])?;
    Ok(signed.signature)
}

/// Steps 0 and 1: the image is a regular file, its signature a small regular
/// file and good, by a key the keyring holds valid or a key of a `--trust`
/// key file (whose prefix is checked once the image's name is known).
fn check_signature(gpg: &Gpg, image: &Path, trust: &[PrefixTrust]) -> Result<Signed, VerifyError> {
    check_present(image)?;
    open_regular(image).map_err(|error| VerifyError::File { image: image.into(), error })?;
    let signature = signature_path(image);
    if !signature.exists() {
        return Err(VerifyError::MissingSignature { image: image.into(), signature });
    }
    read_bounded(&signature, MAX_SIGNATURE_SIZE, "a detached signature")
        .map_err(|error| VerifyError::File { image: image.into(), error })?;
    let keyfile = image.with_file_name(crate::result::files::PUBKEY_FILE).display().to_string();
    let untrusted = match gpg.verify_detached(&signature, image) {
        Ok(good) if good.trust.is_valid() => {
            return Ok(Signed { signature: good, keyring: true, prefixes: Vec::new() })
        }
        Ok(good) => VerifyError::UntrustedSigner {
            signature: signature.clone(),
            user_id: good.user_id,
            fingerprint: good.primary.to_string(),
            trust: good.trust,
            keyfile,
        },
        Err(GpgError::NoPublicKey { signature, key_id }) => VerifyError::UnknownSigner { signature, key_id, keyfile },
        Err(other) => return Err(other.into()),
    };
    let mut found: Option<GoodSignature> = None;
    let mut prefixes = Vec::new();
    for t in trust {
        match gpg.verify_detached_with_keys(&t.keyfile, &signature, image) {
            Ok(good) => {
                found.get_or_insert(good);
                prefixes.push(t.clone());
            }
            Err(GpgError::NoPublicKey { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    match found {
        Some(signature) => Ok(Signed { signature, keyring: false, prefixes }),
        None => Err(untrusted),
    }
}
