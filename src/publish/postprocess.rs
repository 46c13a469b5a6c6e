//! `mkaci postprocess [--gpg PATH] [--key KEYID] [--] DIR RESULT...`: the step
//! outside the sandbox that signs a result's images with the user's gpg and
//! publishes them into DIR (`ACIs/` from `result/postprocess.sh`), ready for
//! `rkt trust` and `rkt run` (see `docs/appc.md` on signatures and `docs/result-layout.md`).
//!
//! For each ACI artifact of each RESULT's `nix2aci.json` it makes, in DIR:
//! - `<image>.aci`, a symlink to the image in the store, registered with Nix
//!   as an indirect GC root (`nix-store --add-root DIR/<image>.aci --indirect`)
//!   so that garbage collection keeps the image while the link exists; or,
//!   with `--copy`, a copy of the image;
//! - `<image>.mounts`, a symlink to the store's `.mounts` (a GC root too, or a
//!   copy), for thin images (a stale one is removed when the same file name is
//!   republished fat);
//! - `<base>.closure.json`, the closure SBOM the manifest pins (a link, a GC
//!   root too, or a copy), when the result has one (a stale one is removed
//!   when the file name is republished from a result without one);
//! - `<image>.aci.asc`, the ASCII-armored detached signature, unless the image
//!   was built with `sign = false`;
//! - [`PUBKEY_FILE`] (`pubkeys.gpg`), the armored public key of the key that
//!   signed in this run: `rkt trust --prefix=<name> DIR/pubkeys.gpg`. The name
//!   is the one appc meta discovery serves (`ac-discovery-pubkeys`), so DIR can
//!   be served as a discovery site as is.
//!
//! For each OCI image layout artifact (from `mkOCI`) it makes, in DIR, a
//! `<base>.docker.tar` for `podman load` / `docker load` and a GC-rooted
//! `<base>.oci` link to the layout; see [`oci`]. OCI images are not signed.
//!
//! With `--site SITE --base-url URL` the command line also publishes the
//! images into a static appc discovery site, checked before DIR is written
//! and written after; see [`site`].
//!
//! Order, and what a failure leaves behind:
//! 1. Every RESULT is read and checked as untrusted input ([`super::source`]:
//!    no link out of it is followed; each image is read again with the
//!    given [`ReadImage`] and must be the image its index describes; OCI
//!    layouts hold only what their index reaches),
//!    DIR is created and probed, and (when an image is to be signed) gpg and
//!    a secret key are found.
//! 2. Every signature is made, in memory, and the public key exported.
//! 3. Everything DIR is to hold is staged beside its final name under a
//!    hidden temporary name (`.NAME.tmp-PID-N`): `pubkeys.gpg`, the
//!    signatures, the links or copies, the docker-archives, the OCI layouts.
//!    Nothing a reader of DIR looks at has changed yet.
//! 4. The staged files are renamed into place, in this order: `pubkeys.gpg`
//!    first, so that no signature is ever in DIR without its key; then per
//!    image the removal of an `.asc` that would not sign the new image, the
//!    `.mounts`, the `.closure.json`, the `.aci` and its new `.asc`; then the
//!    OCI images. A file that is replaced is swapped with the staged one in
//!    one step (`renameat2` `RENAME_EXCHANGE`) and kept aside until the run
//!    ends. A link into the store that is not yet a GC root is registered
//!    under its final name by `nix-store --add-root --indirect` just before
//!    it is put there (Nix makes it a link to the result, which the rename
//!    then points at the file); a link that is already a root keeps its root.
//! 5. The site, when asked for, is written (see [`site`]).
//!
//! A failure anywhere before step 4 leaves DIR as it was (the staged files
//! are removed, and a DIR this run created is removed again). A failure in
//! step 4 or 5 (a rename refused, a file system full, a site that cannot be
//! written) puts back every file the run had renamed, last first, from the
//! copies kept aside: DIR is as it was before, and a link the run made is
//! gone, so the root Nix registered for it names nothing and is dropped.
//! A run killed during step 4 cannot put anything back; it stops between two
//! renames of the order above, so every image is whole (the old or the new
//! one) and every `.asc` signs the image beside it with a key in
//! `pubkeys.gpg`. Its temporaries are removed by the next run (any hidden
//! `.NAME.tmp-PID-N` whose process is gone), which completes DIR.
//!
//! An earlier `.asc` of an image that is not re-linked still belongs to the
//! image its `.aci` points to.
//! Re-running is idempotent: links are replaced, and an image whose `.asc`
//! in DIR still verifies for its bytes with the key gpg signs with now keeps
//! that signature, untouched ("Unchanged"); any other is signed again. The
//! key gpg signs with is found by signing a few bytes once per run, and only
//! when DIR holds such a signature.

use super::source::{file_of_result, Checked, Origin};
use super::{fsops, oci};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::image_id::ImageId;
use crate::image::manifest::{ImageManifest, ManifestError, MountPoint};
use crate::image::sbom::{ClosurePin, ANNOTATION};
use crate::nix::store_path::DEFAULT_STORE_DIR;
use crate::publish::sign::{DetachedSignature, Fingerprint, Gpg, GpgError, PubkeyAlgo};
use crate::result::{signature_name, AciFiles, Artifact, FileName, ImageBase, IndexError, ResultDir, INDEX_FILE};

pub use crate::result::files::PUBKEY_FILE;

/// Why postprocess failed. Each message names the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostprocessError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(
        "cannot read the manifest {path:?} of the result: {reason}; rebuild the image with \
         nix-build and run the new result's postprocess.sh"
    )]
    Manifest { path: PathBuf, reason: ManifestError },
    #[error(
        "cannot read the manifest {path:?} of the result: {message}; check the result, or rebuild it with nix-build"
    )]
    ManifestUnreadable { path: PathBuf, message: String },
    #[error(
        "two results publish the same file {file:?}: {first:?} and {second:?}; publish them \
         into different directories (the first argument of postprocess.sh)"
    )]
    DuplicateImage { file: String, first: PathBuf, second: PathBuf },
    #[error(
        "cannot write to the output directory {dir:?}: {message}; choose another directory \
         (the first argument of postprocess.sh, e.g. ./result/postprocess.sh ~/ACIs) or fix \
         its permissions"
    )]
    DirNotWritable { dir: PathBuf, message: String },
    #[error("cannot write {path:?}: {message}; check the output directory and run postprocess.sh again")]
    WriteFailed { path: PathBuf, message: String },
    #[error(
        "cannot keep {link:?} safe from garbage collection: {program:?} is not found; install Nix's \
         nix-store on PATH (or name it with --nix-store), or publish copies with --copy"
    )]
    NixStoreMissing { link: PathBuf, program: PathBuf },
    #[error(
        "cannot register {link:?} as a GC root: `nix-store --add-root` failed: {message}; \
         publish copies with --copy instead"
    )]
    GcRootFailed { link: PathBuf, message: String },
    #[error("cannot write the docker-archive of the OCI image at {path:?}: {message}")]
    DockerArchive { path: PathBuf, message: String },
    #[error("cannot read {path:?} of the result: {message}; check the result, or rebuild it with nix-build")]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "{path:?} is {kind}, not a regular file; postprocess publishes only regular files of a result \
         (and of the layers it links to); rebuild the image with nix-build"
    )]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error(
        "{path:?} is a link to {target:?}, which postprocess does not follow: {problem}; the only links \
         mkaci makes in a result point at a file of the same name in a declared layer's result in \
         {store:?}; nothing was signed or published, so rebuild the image with nix-build and find out \
         what made that link"
    )]
    LinkOut { path: PathBuf, target: PathBuf, store: PathBuf, problem: String },
    #[error("{path:?} is {size} bytes; at most {limit} are read; rebuild the image with nix-build")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error(
        "{path:?} is not a valid ACI: {message}; nothing was signed or published; rebuild the image \
         with nix-build (`mkaci inspect` shows what is wrong)"
    )]
    BadImage { path: PathBuf, message: String },
    #[error(
        "{path:?} has the image ID {found}, but {recorded_in:?} says {recorded}; postprocess signs \
         only the image the index describes, so nothing was signed or published; rebuild the image \
         with nix-build"
    )]
    IdMismatch { path: PathBuf, recorded_in: PathBuf, recorded: Box<ImageId>, found: Box<ImageId> },
    #[error(
        "{path:?} does not match the result's index {index:?}: {field} is {in_image} in the image but \
         {in_index} in the index; nothing was signed or published; rebuild the image with nix-build"
    )]
    Mismatch { path: PathBuf, index: PathBuf, field: String, in_image: String, in_index: String },
    #[error(
        "{path:?} changed while postprocess was publishing it; nothing more was signed or published; \
         run postprocess.sh again once nothing writes into the result"
    )]
    Changed { path: PathBuf },
    #[error(
        "the OCI image layout {layout:?} holds {path:?}: {problem}; postprocess publishes only what \
         the layout's index.json reaches, and a layout mkaci wrote holds nothing else; rebuild the \
         image with nix-build"
    )]
    LayoutStray { layout: PathBuf, path: PathBuf, problem: String },
}

/// Something worth telling the user that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The signature was made by a key rkt cannot verify.
    UnsupportedKeyAlgo { signer: Fingerprint, algo: PubkeyAlgo },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::UnsupportedKeyAlgo { signer, algo } => write!(
                f,
                "the signing key {signer} is {algo}; rkt only verifies RSA, DSA and ECDSA \
                 signatures, so `rkt run` will reject these images. Sign with an RSA key: \
                 --key <rsa key> or MKACI_SIGN_KEY"
            ),
        }
    }
}

/// How a file reaches DIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A symlink; into the Nix store, also an indirect GC root.
    Link { gc_root: bool },
    /// A copy of the file.
    Copy,
}

/// What re-reading an image found: the image ID of its bytes and the
/// manifest inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRead {
    pub image_id: ImageId,
    pub manifest: Vec<u8>,
}

/// Reads an image file whole, checks its archive layout and computes its
/// image ID; the message says what is wrong. The command line passes
/// `check::inspect::read_image`, the reader `inspect` and `verify` use
/// (`publish` comes before `check` and cannot name it; see
/// `docs/architecture.md`).
pub type ReadImage<'a> = &'a dyn Fn(&Path) -> Result<ImageRead, String>;

/// The most bytes read of a result's `.id` file, `.mounts` file and closure
/// SBOM: far above what a build writes (an SBOM of a 2000-path closure is
/// about a MiB).
const MAX_ID_FILE: u64 = 1 << 10;
const MAX_MOUNTS_FILE: u64 = 16 << 20;
pub(super) const MAX_SBOM_FILE: u64 = 64 << 20;

/// One published image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub artifact: Artifact,
    /// `DIR/<image>.aci`
    pub aci: PathBuf,
    /// The image in the result it links to or was copied from.
    pub target: PathBuf,
    /// The image file checked against the index (`target`, or the file of a
    /// declared layer's result it links to): what the site copies.
    pub source: Checked,
    pub placement: Placement,
    /// `DIR/<image>.mounts` for thin images.
    pub mounts: Option<PathBuf>,
    /// `DIR/<base>.closure.json`, the closure SBOM, when the result has one.
    pub sbom: Option<PathBuf>,
    /// `DIR/<image>.aci.asc` and the key that made it.
    pub signature: Option<(PathBuf, Fingerprint)>,
    /// Whether that signature was DIR's already: it verified for this very
    /// image with the key gpg signs with now, so the image was not signed
    /// again.
    pub signature_kept: bool,
    /// The image's own mount points (its `mounts` and `mountsRo`, not the
    /// thin `nix-<hash>` ones): `rkt run` needs a `--volume` for each.
    pub own_mounts: Vec<MountPoint>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub dir: PathBuf,
    pub published: Vec<Published>,
    /// `DIR/pubkeys.gpg` and the keys in it, when anything was signed.
    pub pubkey: Option<(PathBuf, Vec<Fingerprint>)>,
    pub warnings: Vec<Warning>,
    /// The OCI images published (never signed).
    pub oci: Vec<oci::PublishedOci>,
    /// The OCI image index layouts published (never signed).
    pub oci_indexes: Vec<oci::PublishedOciIndex>,
}

/// Options of [`postprocess`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// gpg program; `None` finds `gpg2` or `gpg` on PATH.
    pub gpg: Option<PathBuf>,
    /// Key spec for `--local-user`; `None` uses gpg's default key.
    pub key: Option<String>,
    /// Copy the files into DIR instead of linking them.
    pub copy: bool,
    /// The `nix-store` program that registers GC roots; `None` finds it on PATH.
    pub nix_store: Option<PathBuf>,
}

/// Publishes the ACI artifacts of `results` into `dir`; see the module docs.
pub fn postprocess(
    dir: &Path,
    results: &[PathBuf],
    options: &Options,
    read_image: ReadImage<'_>,
) -> Result<Report, PostprocessError> {
    postprocess_then(dir, results, options, read_image, |_| Ok::<(), PostprocessError>(())).map(|(r, ())| r)
}

/// [`postprocess`], and then `then` (the site) once DIR is written: when
/// `then` fails, DIR is put back as it was before the run, and its error is
/// returned.
pub fn postprocess_then<T, E: From<PostprocessError>>(
    dir: &Path,
    results: &[PathBuf],
    options: &Options,
    read_image: ReadImage<'_>,
    then: impl FnOnce(&Report) -> Result<T, E>,
) -> Result<(Report, T), E> {
    // `_created` removes DIR again, after an undo, when this run made it.
    let (report, committed, _created) = publish(dir, results, options, read_image)?;
    match then(&report) {
        Ok(t) => {
            committed.finish();
            Ok((report, t))
        }
        Err(e) => {
            committed.undo();
            Err(e)
        }
    }
}

/// Checks, signs, stages and commits; DIR's old files are still kept aside.
fn publish(
    dir: &Path,
    results: &[PathBuf],
    options: &Options,
    read_image: ReadImage<'_>,
) -> Result<(Report, fsops::Committed, fsops::CreatedDirs), PostprocessError> {
    let store_dir = std::env::var_os("NIX_STORE_DIR").map(PathBuf::from).unwrap_or_else(|| DEFAULT_STORE_DIR.into());
    // 1. Read everything, check everything.
    let mut images: Vec<(PathBuf, Artifact, Vec<MountPoint>)> = Vec::new();
    let mut checked: Vec<CheckedFiles> = Vec::new();
    let mut layouts: Vec<oci::CheckedOci> = Vec::new();
    let mut indexes: Vec<oci::CheckedOciIndex> = Vec::new();
    // Each file name published, with the result it comes from and, for an
    // ACI, its image ID: a dependency image two results share (the same
    // store path) is published once.
    let mut seen: BTreeMap<FileName, (PathBuf, Option<crate::image::image_id::ImageId>)> = BTreeMap::new();
    for result in results {
        let r = ResultDir::read(result)?;
        for layout in r.index.oci_layouts {
            match seen.get(&layout.files.layout) {
                Some((first, _)) if *first == r.dir => continue, // the same result given twice
                Some((first, _)) => {
                    return Err(PostprocessError::DuplicateImage {
                        file: layout.files.layout.to_string(),
                        first: first.clone(),
                        second: r.dir.clone(),
                    })
                }
                None => {
                    seen.insert(layout.files.layout.clone(), (r.dir.clone(), None));
                    layouts.push(oci::check(&r.dir, layout, &store_dir)?);
                }
            }
        }
        for index in r.index.oci_indexes {
            match seen.get(&index.files.layout) {
                Some((first, _)) if *first == r.dir => continue, // the same result given twice
                Some((first, _)) => {
                    return Err(PostprocessError::DuplicateImage {
                        file: index.files.layout.to_string(),
                        first: first.clone(),
                        second: r.dir.clone(),
                    })
                }
                None => {
                    seen.insert(index.files.layout.clone(), (r.dir.clone(), None));
                    indexes.push(oci::check_index(&r.dir, index, &store_dir)?);
                }
            }
        }
        for artifact in r.index.artifacts {
            match seen.get(&artifact.files.image) {
                Some((first, _)) if *first == r.dir => continue, // the same result given twice
                Some((_, Some(id))) if *id == artifact.digests.image_id => continue,
                Some((first, _)) => {
                    return Err(PostprocessError::DuplicateImage {
                        file: artifact.files.image.to_string(),
                        first: first.clone(),
                        second: r.dir.clone(),
                    })
                }
                None => {
                    seen.insert(artifact.files.image.clone(), (r.dir.clone(), Some(artifact.digests.image_id)));
                    let (files, manifest) = check_artifact(&r.dir, &artifact, &store_dir, read_image)?;
                    let own_mounts = own_mount_points(&manifest);
                    images.push((r.dir.clone(), artifact, own_mounts));
                    checked.push(files);
                }
            }
        }
    }
    // Removes DIR again on the way out if this run made it and wrote nothing into it.
    let created = fsops::ensure_writable_dir(dir)
        .map_err(|e| PostprocessError::DirNotWritable { dir: dir.to_path_buf(), message: e.to_string() })?;

    // 2. Sign in memory.
    let key = options.key.as_deref();
    let mut signatures: Vec<Option<DetachedSignature>> = Vec::with_capacity(images.len());
    let mut kept: Vec<bool> = Vec::with_capacity(images.len());
    let mut warnings = Vec::new();
    let mut signers: Vec<Fingerprint> = Vec::new();
    let mut pubkeys: Vec<u8> = Vec::new();
    if images.iter().any(|(_, a, _)| a.sign) {
        let gpg = Gpg::locate(options.gpg.as_deref())?;
        gpg.check_signing_key(key)?;
        // The key gpg signs with now, known from a signature of a few bytes,
        // made only when DIR holds signatures that could be kept.
        let mut signing_key: Option<Fingerprint> = None;
        for ((_, artifact, _), files) in images.iter().zip(&checked) {
            if !artifact.sign {
                signatures.push(None);
                kept.push(false);
                continue;
            }
            let old_asc = dir.join(signature_name(&artifact.files.image));
            let (sig, was_kept) = match keep_signature(&gpg, key, &mut signing_key, &old_asc, &files.image.path, dir)? {
                Some(sig) => (sig, true),
                None => {
                    // gpg reads the checked file itself, which must still be
                    // the one whose ID was compared with the index once it
                    // is signed.
                    let sig = gpg.sign_detached(&files.image.path, key)?;
                    if !files.image.unchanged() {
                        return Err(PostprocessError::Changed { path: files.image.path.clone() });
                    }
                    (sig, false)
                }
            };
            if !signers.contains(&sig.signer) {
                if !sig.algo.rkt_can_verify() {
                    warnings.push(Warning::UnsupportedKeyAlgo { signer: sig.signer.clone(), algo: sig.algo });
                }
                pubkeys.extend(gpg.export_public(&sig.signer)?);
                signers.push(sig.signer.clone());
            }
            signatures.push(Some(sig));
            kept.push(was_kept);
        }
    } else {
        signatures.resize(images.len(), None);
        kept.resize(images.len(), false);
    }

    // 3. Stage everything under hidden temporary names in DIR, then commit
    // it by renames (see `fsops::Transaction`), in an order where DIR is
    // consistent after every step.
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| PostprocessError::WriteFailed { path, message: e.to_string() }
    };
    let nix_store = options.nix_store.clone().unwrap_or_else(|| PathBuf::from("nix-store"));
    fsops::remove_stale_temporaries(dir);
    let mut txn = fsops::Transaction::default();
    // The keys first: a run cut short never leaves a signature whose key is
    // not exported beside it.
    let pubkey = if signers.is_empty() {
        None
    } else {
        let path = dir.join(PUBKEY_FILE);
        txn.file(&path, &pubkeys, 0o644).map_err(write_err(&path))?;
        Some((path, signers))
    };
    let mut published = Vec::with_capacity(images.len());
    for ((((result_dir, artifact, own_mounts), sig), files), signature_kept) in
        images.into_iter().zip(signatures).zip(checked).zip(kept)
    {
        let placement = if options.copy {
            Placement::Copy
        } else {
            Placement::Link { gc_root: result_dir.parent() == Some(store_dir.as_path()) }
        };
        let aci = dir.join(&artifact.files.image);
        let asc = dir.join(signature_name(&artifact.files.image));
        let target = result_dir.join(&artifact.files.image);
        // An old `.asc` that belongs to another image goes before the image
        // changes, so it is never next to an image it does not sign.
        let relinks = options.copy || std::fs::read_link(&aci).ok().as_deref() != Some(target.as_path());
        // A kept `.asc` signs this image's bytes, whatever the link said.
        if !signature_kept && (sig.is_none() || relinks) {
            txn.remove(&asc);
        }
        let base = ImageBase::new(&artifact.name, artifact.version.as_deref(), &artifact.os, &artifact.arch);
        let mounts = match &artifact.files.mounts {
            Some(m) => Some(
                stage_file(&mut txn, placement, &result_dir, dir, m, files.mounts.as_ref().unwrap_or(&files.image))?.0,
            ),
            None => {
                // A `.mounts` left by an earlier thin build of this file name
                // would hand rkt volumes the fat image does not declare.
                if let Some(m) = AciFiles::new(&base, true).mounts {
                    txn.remove(&dir.join(m));
                }
                None
            }
        };
        // The closure SBOM the manifest pins, before the image, which is never
        // beside another image's SBOM; a stale one of an older build goes.
        let sbom = match &artifact.files.sbom {
            Some(f) => Some(
                stage_file(&mut txn, placement, &result_dir, dir, f, files.sbom.as_ref().unwrap_or(&files.image))?.0,
            ),
            None => {
                txn.remove(&dir.join(base.closure_sbom()));
                None
            }
        };
        stage_file(&mut txn, placement, &result_dir, dir, &artifact.files.image, &files.image)?;
        let signature = match sig {
            Some(sig) => {
                if !signature_kept {
                    txn.file(&asc, &sig.armored, 0o644).map_err(write_err(&asc))?;
                }
                Some((asc, sig.signer))
            }
            None => None,
        };
        let source = files.image;
        published.push(Published {
            artifact,
            aci,
            target,
            source,
            placement,
            mounts,
            sbom,
            signature,
            signature_kept,
            own_mounts,
        });
    }
    // The OCI images after the ACIs: nothing in DIR lists them.
    let mut oci_published = Vec::with_capacity(layouts.len());
    for layout in layouts {
        let placement = if options.copy {
            Placement::Copy
        } else {
            Placement::Link { gc_root: layout.result_dir().parent() == Some(store_dir.as_path()) }
        };
        oci_published.push(oci::stage(&mut txn, dir, layout, placement)?);
    }
    let mut index_published = Vec::with_capacity(indexes.len());
    for index in indexes {
        let placement = if options.copy {
            Placement::Copy
        } else {
            Placement::Link { gc_root: index.result_dir().parent() == Some(store_dir.as_path()) }
        };
        index_published.push(oci::stage_index(&mut txn, dir, index, placement)?);
    }
    // The copies were checked as they were staged; a link's file must still
    // be the one checked as it is put in place.
    for p in &published {
        if !p.source.unchanged() {
            return Err(PostprocessError::Changed { path: p.source.path.clone() });
        }
    }
    let roots = indirect_roots();
    let committed = txn.commit(
        &|link| roots.contains(&absolute(link)),
        &mut |link, store_path| add_indirect_root(&nix_store, link, store_path),
        &|path, e| PostprocessError::WriteFailed { path: path.to_path_buf(), message: e.to_string() },
    )?;
    Ok((
        Report {
            dir: dir.to_path_buf(),
            published,
            pubkey,
            warnings,
            oci: oci_published,
            oci_indexes: index_published,
        },
        committed,
        created,
    ))
}

/// `path` made absolute against the working directory, with `.` and `..`
/// resolved by name as Nix does (no link followed): the name Nix registers
/// an indirect GC root under.
fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut abs = std::env::current_dir().unwrap_or_default();
    abs.push(path);
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The links Nix holds as indirect GC roots: the targets of the links in
/// `$NIX_STATE_DIR/gcroots/auto` (`/nix/var/nix` by default). Empty when it
/// cannot be read: every link is then registered again.
fn indirect_roots() -> std::collections::HashSet<PathBuf> {
    let state = std::env::var_os("NIX_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| "/nix/var/nix".into());
    let Ok(entries) = std::fs::read_dir(state.join("gcroots/auto")) else { return Default::default() };
    entries.flatten().filter_map(|e| std::fs::read_link(e.path()).ok()).collect()
}

/// Most bytes of an existing `.asc` that is read to be kept.
const MAX_KEPT_SIGNATURE: u64 = 64 * 1024;

/// The signature DIR holds already at `old_asc`, when it is still good: it
/// verifies for the image at `image` (the bytes about to be published) and
/// was made by the key gpg signs with now (found once per run, by signing a
/// few bytes, in `signing_key`). `None` when there is none or it does not
/// qualify: the image is then signed again. Anything but a regular file of
/// a sane size is not read.
fn keep_signature(
    gpg: &Gpg,
    key: Option<&str>,
    signing_key: &mut Option<Fingerprint>,
    old_asc: &Path,
    image: &Path,
    dir: &Path,
) -> Result<Option<DetachedSignature>, PostprocessError> {
    use std::io::Read;
    let Ok(m) = std::fs::symlink_metadata(old_asc) else { return Ok(None) };
    if !m.is_file() || m.len() > MAX_KEPT_SIGNATURE {
        return Ok(None);
    }
    let Ok(good) = gpg.verify_detached(old_asc, image) else { return Ok(None) };
    let now = match signing_key {
        Some(k) => k.clone(),
        None => {
            let probe = dir.join(format!(".nix2aci-signing-key-probe-{}", std::process::id()));
            std::fs::write(&probe, b"which key signs\n")
                .map_err(|e| PostprocessError::WriteFailed { path: probe.clone(), message: e.to_string() })?;
            let sig = gpg.sign_detached(&probe, key);
            let _ = std::fs::remove_file(&probe);
            signing_key.insert(sig?.signer).clone()
        }
    };
    if good.signer != now {
        return Ok(None);
    }
    let mut armored = Vec::new();
    let read = std::fs::File::open(old_asc).and_then(|f| f.take(MAX_KEPT_SIGNATURE).read_to_end(&mut armored));
    if read.is_err() {
        return Ok(None);
    }
    Ok(Some(DetachedSignature { armored, signer: good.signer, algo: good.algo }))
}

/// Stages the file `file` of the result at `result_dir` for `dir` as
/// `placement` says: a copy of `checked` (the file, checked), or a link
/// (a GC root of the result when `gc_root`). Returns the path in `dir` and
/// the source.
pub(super) fn stage_file(
    txn: &mut fsops::Transaction,
    placement: Placement,
    result_dir: &Path,
    dir: &Path,
    file: &FileName,
    checked: &Checked,
) -> Result<(PathBuf, PathBuf), PostprocessError> {
    let (source, dest) = (result_dir.join(file), dir.join(file));
    let write_err = |e: std::io::Error| PostprocessError::WriteFailed { path: dest.clone(), message: e.to_string() };
    match placement {
        Placement::Copy => {
            let from = checked.open().map_err(|_| PostprocessError::Changed { path: checked.path.clone() })?;
            txn.copy(from, &dest, 0o444).map_err(write_err)?;
            if !checked.unchanged() {
                return Err(PostprocessError::Changed { path: checked.path.clone() });
            }
        }
        Placement::Link { gc_root } => {
            txn.symlink(&source, &dest, gc_root.then_some(result_dir)).map_err(write_err)?;
        }
    }
    Ok((dest, source))
}

/// Registers `link` as an indirect GC root of the store path `result`: Nix
/// keeps `result` as long as `link` is a symlink into it. `nix-store` makes
/// `link` point at `result` itself; the caller then points it at the file.
pub(super) fn add_indirect_root(nix_store: &Path, link: &Path, result: &Path) -> Result<(), PostprocessError> {
    let mut abs = std::env::current_dir().unwrap_or_default();
    abs.push(link);
    let out = Command::new(nix_store)
        .arg("--add-root")
        .arg(&abs)
        .arg("--indirect")
        .arg("--realise")
        .arg(result)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                PostprocessError::NixStoreMissing { link: link.to_path_buf(), program: nix_store.to_path_buf() }
            }
            _ => PostprocessError::GcRootFailed { link: link.to_path_buf(), message: e.to_string() },
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = stderr.trim().lines().last().unwrap_or("no message").to_string();
        return Err(PostprocessError::GcRootFailed { link: link.to_path_buf(), message });
    }
    Ok(())
}

/// The files of an ACI artifact, checked ([`check_artifact`]).
struct CheckedFiles {
    image: Checked,
    mounts: Option<Checked>,
    sbom: Option<Checked>,
}

/// Checks an ACI artifact of the result at `result_dir` before anything is
/// signed: its files are regular files of the result (or the one link a
/// declared layer's file is, [`file_of_result`]); the image, read again
/// whole, is a valid ACI whose ID is the one the index and the `.id` file
/// record, of the index's size; its manifest has the index's name, version,
/// os and arch; a thin image's `.mounts` is the line its manifest's store
/// mounts make; the SBOM is the one the manifest pins. Returns the files and
/// the manifest inside the image.
fn check_artifact(
    result_dir: &Path,
    a: &Artifact,
    store_dir: &Path,
    read_image: ReadImage<'_>,
) -> Result<(CheckedFiles, ImageManifest), PostprocessError> {
    let index = result_dir.join(INDEX_FILE);
    let (image, origin) = file_of_result(result_dir, &a.files.image, store_dir)?;
    let mismatch = |field: &str, in_image: String, in_index: String| PostprocessError::Mismatch {
        path: image.path.clone(),
        index: index.clone(),
        field: field.to_string(),
        in_image,
        in_index,
    };
    // A declared layer: its own index must describe the same image.
    if let Origin::Layer(layer) = &origin {
        let theirs = layer.artifact(a.files.image.as_str()).map(|l| l.digests.image_id);
        if theirs != Some(a.digests.image_id) {
            return Err(PostprocessError::Mismatch {
                path: result_dir.join(&a.files.image),
                index: layer.dir.join(INDEX_FILE),
                field: "the layer's imageId".into(),
                in_image: theirs.map(|i| i.to_string()).unwrap_or_else(|| "(not listed)".into()),
                in_index: a.digests.image_id.to_string(),
            });
        }
    }
    if let Some(size) = a.size {
        if size != image.size() {
            return Err(mismatch("size", image.size().to_string(), size.to_string()));
        }
    }
    let (id_file, _) = file_of_result(result_dir, &a.files.id, store_dir)?;
    let id_text = id_file.read_limited(MAX_ID_FILE)?;
    let recorded: ImageId =
        std::str::from_utf8(&id_text).ok().and_then(|t| t.strip_suffix('\n')).and_then(|t| t.parse().ok()).ok_or_else(
            || PostprocessError::Unreadable {
                path: id_file.path.clone(),
                message: "it does not hold an image ID (sha512-<128 hex> and a newline)".into(),
            },
        )?;
    let read =
        read_image(&image.path).map_err(|message| PostprocessError::BadImage { path: image.path.clone(), message })?;
    if !image.unchanged() {
        return Err(PostprocessError::Changed { path: image.path.clone() });
    }
    for (recorded_in, id) in [(&index, a.digests.image_id), (&id_file.path, recorded)] {
        if id != read.image_id {
            return Err(PostprocessError::IdMismatch {
                path: image.path.clone(),
                recorded_in: recorded_in.clone(),
                recorded: Box::new(id),
                found: Box::new(read.image_id),
            });
        }
    }
    let manifest = ImageManifest::from_json_slice(&read.manifest)
        .map_err(|reason| PostprocessError::Manifest { path: image.path.clone(), reason })?;
    let show = |v: Option<&str>| v.map(|v| format!("{v:?}")).unwrap_or_else(|| "absent".into());
    if manifest.name != a.name {
        return Err(mismatch("name", manifest.name.to_string(), a.name.to_string()));
    }
    for (field, in_image, in_index) in [
        ("version", manifest.label("version"), a.version.as_deref()),
        ("os", manifest.label("os"), Some(a.os.as_str())),
        ("arch", manifest.label("arch"), Some(a.arch.as_str())),
    ] {
        if in_image != in_index {
            return Err(mismatch(field, show(in_image), show(in_index)));
        }
    }
    let mounts = match &a.files.mounts {
        Some(f) => {
            let (mounts, _) = file_of_result(result_dir, f, store_dir)?;
            let expected = thin_mounts_line(&manifest);
            if mounts.read_limited(MAX_MOUNTS_FILE)? != expected.as_bytes() {
                return Err(PostprocessError::Mismatch {
                    path: mounts.path.clone(),
                    index: image.path.clone(),
                    field: "the volumes".into(),
                    in_image: "the file's --volume arguments".into(),
                    in_index: format!("the store mounts of the image's manifest, {:?}", expected.trim_end()),
                });
            }
            Some(mounts)
        }
        None => None,
    };
    let sbom = match &a.files.sbom {
        Some(f) => {
            let (sbom, _) = file_of_result(result_dir, f, store_dir)?;
            check_sbom(&sbom, manifest.annotation(ANNOTATION), &image.path)?;
            Some(sbom)
        }
        None => None,
    };
    Ok((CheckedFiles { image, mounts, sbom }, manifest))
}

/// Checks the SBOM `sbom` against `pin`, the image's pin of it (the image at
/// `image`): an SBOM the image does not pin is not published.
pub(super) fn check_sbom(sbom: &Checked, pin: Option<&str>, image: &Path) -> Result<(), PostprocessError> {
    let expected = pin.and_then(ClosurePin::parse);
    let actual = ClosurePin::of_bytes(&sbom.read_limited(MAX_SBOM_FILE)?);
    if expected != Some(actual) {
        return Err(PostprocessError::Mismatch {
            path: sbom.path.clone(),
            index: image.to_path_buf(),
            field: format!("the SHA-256 ({ANNOTATION})"),
            in_image: pin.map(|p| format!("{p:?}")).unwrap_or_else(|| "not pinned".into()),
            in_index: actual.to_string(),
        });
    }
    Ok(())
}

/// The `.mounts` line of a thin image: a `--volume` for each of its
/// manifest's store mounts, in the manifest's order, as the build writes it.
fn thin_mounts_line(m: &ImageManifest) -> String {
    let mounts = m.app.as_ref().map(|app| app.mount_points.as_slice()).unwrap_or_default();
    let mut line = mounts
        .iter()
        .filter(|m| is_thin_store_mount(m))
        .map(|m| format!("--volume={},kind=host,source={},readOnly=true", m.name.as_str(), m.path.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    line.push('\n');
    line
}

/// The mount points of the image with the manifest `manifest`, less a thin
/// image's `nix-<hash>` store mounts, whose volumes the `.mounts` file gives.
fn own_mount_points(manifest: &ImageManifest) -> Vec<MountPoint> {
    let mounts = manifest.app.as_ref().map(|app| app.mount_points.clone()).unwrap_or_default();
    mounts.into_iter().filter(|m| !is_thin_store_mount(m)).collect()
}

/// A thin image's mount of a store path: `nix-<hash>` at `<store>/<hash>-<name>`.
fn is_thin_store_mount(m: &MountPoint) -> bool {
    let Some(hash) = m.name.as_str().strip_prefix("nix-") else { return false };
    let base = Path::new(m.path.as_str()).file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    hash.len() == 32 && base.strip_prefix(hash).is_some_and(|rest| rest.starts_with('-'))
}

impl Report {
    /// The commands to load each published OCI image into an engine.
    pub fn oci_next_commands(&self) -> Vec<String> {
        use crate::result::shell_quote_path;
        let mut cmds = Vec::new();
        for p in &self.oci {
            cmds.push(format!("podman load -i {}", shell_quote_path(&p.docker_archive)));
            cmds.push(format!(
                "skopeo inspect oci:{}:{}",
                shell_quote_path(&p.layout),
                crate::result::shell_quote(&p.artifact.tag)
            ));
        }
        for p in &self.oci_indexes {
            cmds.push(format!(
                "skopeo inspect --raw oci:{}:{}",
                shell_quote_path(&p.layout),
                crate::result::shell_quote(&p.artifact.tag)
            ));
            for (_, archive, _) in &p.archives {
                cmds.push(format!("podman load -i {}", shell_quote_path(archive)));
            }
        }
        cmds
    }

    /// The commands to run next: one `rkt trust` per image name, one `rkt run`
    /// per image (with the volumes of a thin image, and a `--volume`
    /// placeholder for each of the image's own mount points), and one
    /// `verify` per image with `mkaci`, the program that ran.
    pub fn next_commands(&self, mkaci: &Path) -> Vec<String> {
        use crate::result::{shell_quote, shell_quote_path, ArtifactKind};
        let is_dep = |p: &&Published| p.artifact.kind == ArtifactKind::DependencyAci;
        let mut cmds = Vec::new();
        if let Some((keyfile, _)) = &self.pubkey {
            // A dependency is trusted under its name less the last component
            // (the prefix it shares with the other dependencies).
            let mut names: Vec<&str> = self
                .published
                .iter()
                .filter(|p| p.signature.is_some())
                .map(|p| {
                    let n = p.artifact.name.as_str();
                    match (is_dep(&p), n.rsplit_once('/')) {
                        (true, Some((prefix, _))) => prefix,
                        _ => n,
                    }
                })
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                cmds.push(format!(
                    "sudo rkt trust --prefix={} {}   # without a terminal (a script): add --skip-fingerprint-review",
                    shell_quote(name),
                    shell_quote_path(keyfile)
                ));
            }
        }
        // rkt finds dependencies by name in its store (or by discovery):
        // fetching them from the files first makes the apps runnable.
        let deps: Vec<String> = self.published.iter().filter(is_dep).map(|p| shell_quote_path(&p.aci)).collect();
        if !deps.is_empty() {
            let insecure = if self.published.iter().filter(is_dep).any(|p| p.signature.is_none()) {
                " --insecure-options=image"
            } else {
                ""
            };
            cmds.push(format!("sudo rkt fetch{insecure} {}", deps.join(" ")));
        }
        for p in self.published.iter().filter(|p| !is_dep(p)) {
            let mut cmd = String::from("sudo rkt run");
            if p.signature.is_none() {
                cmd.push_str(" --insecure-options=image");
            }
            if let Some(m) = &p.mounts {
                cmd.push_str(&format!(" $(cat {})", shell_quote_path(m)));
            }
            for m in &p.own_mounts {
                // <HOST_PATH> is left for the user to fill in: the shell
                // refuses the line as it is.
                cmd.push_str(&format!(" --volume={},kind=host,source=<HOST_PATH>", m.name.as_str()));
                if m.read_only {
                    cmd.push_str(",readOnly=true");
                }
            }
            cmd.push(' ');
            cmd.push_str(&shell_quote_path(&p.aci));
            cmds.push(cmd);
        }
        for p in self.published.iter().filter(|p| !is_dep(p)) {
            cmds.push(format!("{} verify {}", shell_quote_path(mkaci), shell_quote_path(&p.aci)));
        }
        cmds
    }
}
