//! `mkaci verify DIR/<image>.aci`: tells whether a published image is sound.
//! It checks, in order, and stops at the first failure:
//! 1. the signature `<image>.aci.asc` over the image, with the user's gpg and
//!    keyring (appc.md §5), warning when rkt could not verify its algorithm;
//! 2. the archive layout and the image ID, recomputed in one streaming pass
//!    ([`crate::inspect::read_image`], appc.md §1 and §2);
//! 3. the manifest inside the image against every rule of appc.md §3
//!    ([`ImageManifest::from_json_slice`]);
//! 4. the image ID against each `<base>.id` lying beside the image or beside
//!    the store file the `.aci` symlink points to (docs/result-layout.md).

use std::path::{Path, PathBuf};

use crate::image_id::{ImageId, ImageIdError};
use crate::inspect::{read_image, ImageReport, InspectError};
use crate::manifest::{ImageManifest, ManifestError};
use crate::sign::{GoodSignature, Gpg, GpgError};

/// Why an image failed verification. Each message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{image:?} does not exist or is not readable ({message}); pass DIR/<image>.aci as written by postprocess.sh"
    )]
    MissingImage { image: PathBuf, message: String },
    #[error(
        "{image:?} has no signature {signature:?}; sign it by running postprocess.sh again, or \
         the image was built with sign = false and can only be run with --insecure-options=image"
    )]
    MissingSignature { image: PathBuf, signature: PathBuf },
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(
        "cannot check {signature:?}: the signer's public key {key_id} is not in your keyring; \
         import it with `gpg --import {keyfile}` if you trust it (postprocess exports it there)"
    )]
    UnknownSigner { signature: PathBuf, key_id: String, keyfile: String },
    #[error("cannot read the image ID file {path:?}: {message}")]
    UnreadableIdFile { path: PathBuf, message: String },
    #[error("the image ID file {path:?} is invalid: {error}; rebuild the image")]
    BadIdFile { path: PathBuf, error: ImageIdError },
    #[error(
        "{image:?} has image ID {found}, but {id_file:?} says {expected}: the image was changed \
         after it was built; rebuild it"
    )]
    IdMismatch { image: PathBuf, id_file: PathBuf, expected: Box<ImageId>, found: Box<ImageId> },
    #[error("{image:?} is signed but its archive is not a valid ACI: {error}; rebuild the image")]
    Layout { image: PathBuf, error: Box<InspectError> },
    #[error("{image:?}: its manifest breaks the appc rules: {error}; rebuild the image")]
    Manifest { image: PathBuf, error: ManifestError },
}

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    pub signature: GoodSignature,
    pub report: ImageReport,
    pub manifest: ImageManifest,
    /// The `.id` files the image ID was compared with.
    pub id_files: Vec<PathBuf>,
}

/// Runs every check of the module docs on `image` (`DIR/<image>.aci`).
pub fn verify(gpg: &Gpg, image: &Path) -> Result<Verified, VerifyError> {
    let signature = verify_signature(gpg, image)?;
    let report =
        read_image(image).map_err(|error| VerifyError::Layout { image: image.into(), error: Box::new(error) })?;
    let (manifest, id_files) = check_report(image, &report)?;
    Ok(Verified { signature, report, manifest, id_files })
}

/// Steps 3 and 4 on an image already read by [`read_image`]: the manifest rules,
/// and the image ID against the `.id` files. Returns the manifest and the `.id`
/// files compared. Shared with `mkaci inspect --verify`.
pub fn check_report(image: &Path, report: &ImageReport) -> Result<(ImageManifest, Vec<PathBuf>), VerifyError> {
    let manifest = ImageManifest::from_json_slice(&report.manifest_bytes)
        .map_err(|error| VerifyError::Manifest { image: image.into(), error })?;
    let id_files = id_files(image);
    for id_file in &id_files {
        let expected = read_id_file(id_file)?;
        if expected != report.image_id {
            return Err(VerifyError::IdMismatch {
                image: image.into(),
                id_file: id_file.clone(),
                expected: Box::new(expected),
                found: Box::new(report.image_id),
            });
        }
    }
    Ok((manifest, id_files))
}

/// The file name `mkaci build` gives an image with this manifest, when the os
/// and arch labels are there.
pub fn expected_file_name(manifest: &ImageManifest) -> Option<String> {
    let (os, arch) = (manifest.label("os")?, manifest.label("arch")?);
    Some(crate::manifest::spec::image_file_name(&manifest.name, manifest.label("version"), os, arch))
}

/// `<image>.aci.asc` for `<image>.aci`.
pub fn signature_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_os_string();
    s.push(".asc");
    PathBuf::from(s)
}

/// The `.id` files that may describe `image`: `<base>.id` beside it, and
/// beside its symlink target (the result directory in the store).
pub fn id_files(image: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut push = |p: &Path| {
        if let Some(stem) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".aci")) {
            let id = p.with_file_name(format!("{stem}.id"));
            if id.is_file() && !out.contains(&id) {
                out.push(id);
            }
        }
    };
    push(image);
    if let Ok(real) = std::fs::canonicalize(image) {
        push(&real);
    }
    out
}

/// Reads a `.id` file: `sha512-<128 hex>` and a newline.
pub fn read_id_file(path: &Path) -> Result<ImageId, VerifyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| VerifyError::UnreadableIdFile { path: path.into(), message: e.to_string() })?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    value.parse::<ImageId>().map_err(|error| VerifyError::BadIdFile { path: path.into(), error })
}

/// Checks the signature of `image` with `gpg`.
pub fn verify_signature(gpg: &Gpg, image: &Path) -> Result<GoodSignature, VerifyError> {
    std::fs::File::open(image)
        .map_err(|e| VerifyError::MissingImage { image: image.into(), message: e.to_string() })?;
    let signature = signature_path(image);
    if !signature.exists() {
        return Err(VerifyError::MissingSignature { image: image.into(), signature });
    }
    match gpg.verify_detached(&signature, image) {
        Err(GpgError::NoPublicKey { signature, key_id }) => {
            let keyfile = image.with_file_name(crate::postprocess::PUBKEY_FILE);
            Err(VerifyError::UnknownSigner { signature, key_id, keyfile: keyfile.display().to_string() })
        }
        other => Ok(other?),
    }
}

/// `mkaci verify` arguments.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// gpg program to verify with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    pub gpg: Option<PathBuf>,
    /// The published image, DIR/<image>.aci; its signature is DIR/<image>.aci.asc
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
}

/// Runs `mkaci verify` and prints what was checked.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let gpg = Gpg::locate(args.gpg.as_deref().filter(|g| !g.as_os_str().is_empty()))?;
    let v = verify(&gpg, &args.image)?;
    let good = &v.signature;
    println!("{}", args.image.display());
    println!("  signature: good, from {} ({}, {})", good.user_id, good.primary, good.algo);
    println!(
        "  layout:    ok ({}, {} entries, {} bytes uncompressed)",
        v.report.compression, v.report.entries, v.report.tar_size
    );
    println!("  manifest:  ok ({} {})", v.manifest.name, v.manifest.label("version").unwrap_or("(no version)"));
    println!("  image ID:  {}", v.report.image_id);
    for id_file in &v.id_files {
        println!("             matches {}", id_file.display());
    }
    if !good.algo.rkt_can_verify() {
        eprintln!(
            "mkaci: warning: the signature is {}; rkt only verifies RSA, DSA and ECDSA signatures, \
             so `rkt run` will reject this image. Re-sign with an RSA key (postprocess --key)",
            good.algo
        );
    }
    let actual = args.image.file_name().map(|n| n.to_string_lossy().into_owned());
    if let (Some(want), Some(actual)) = (expected_file_name(&v.manifest), actual) {
        if want != actual {
            eprintln!(
                "mkaci: warning: the file is named {actual:?} but its manifest says {want:?}; \
                 rkt discovery looks for the latter"
            );
        }
    }
    Ok(())
}
