//! Publishing an OCI image layout artifact into DIR (`OCI/` by default):
//!
//! - `<base>.docker.tar`: a docker-archive of the image, tagged
//!   `<name>:<tag>`, for `podman load -i` and `docker load -i` (always a
//!   file: it is made here, from the layout, with every layer's digest
//!   checked on the way);
//! - `<base>.oci`: a symlink to the layout in the result, registered as an
//!   indirect GC root when the result is in the Nix store (or, with
//!   `--copy`, a copy of the directory), for `skopeo`, `umoci` and the like:
//!   `skopeo copy oci:DIR/<base>.oci:<tag> ...`;
//! - `<base>.closure.json`: the closure SBOM the config label
//!   `nix2aci.org/closure-sha256` pins, linked (a GC root) or copied the same
//!   way.
//!
//! An image index layout (`<name>-<version>.oci`, what mkMultiArch builds of
//! mkOCI images) is published the same way, whole (only what its index
//! reaches), with each platform's SBOM; a docker-archive holds one image and
//! no index, so one is written per platform,
//! `<name>-<version>-<os>-<arch>[<variant>].docker.tar`.
//!
//! OCI images are never signed here (cosign and the like are out of scope).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::fsops;
use super::postprocess::{check_sbom, stage_file, Placement, PostprocessError};
use super::push::{source_of, PushSource};
use super::source::{file_of_result, layout_of_result, Checked, CheckedLayout};
use crate::archive::digest::{self, Sha256Digest};
use crate::formats::oci::docker::write_docker_archive;
use crate::formats::oci::layout::platform_text;
use crate::formats::oci::{read_index_layout, read_layout, ReadIndexLayout, ReadLayout};
use crate::image::sbom::ANNOTATION;
use crate::result::{FileName, ImageBase, OciArtifact, OciIndexArtifact};

/// One published OCI image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedOci {
    pub artifact: OciArtifact,
    /// `DIR/<base>.oci`
    pub layout: PathBuf,
    /// The layout in the result it links to or was copied from.
    pub target: PathBuf,
    pub placement: Placement,
    /// `DIR/<base>.docker.tar`
    pub docker_archive: PathBuf,
    /// The image ID engines show after loading it: the config digest.
    pub image_id: Sha256Digest,
    /// `DIR/<base>.closure.json`, the closure SBOM, when the result has one.
    pub sbom: Option<PathBuf>,
    /// What `--push` sends: `DIR/<base>.oci`, its tag and its blobs' sizes.
    pub push: PushSource,
}

impl PublishedOci {
    /// The reference the docker-archive is tagged with, `<name>:<tag>`.
    pub fn reference(&self) -> String {
        reference(&self.artifact)
    }
}

fn reference(a: &OciArtifact) -> String {
    format!("{}:{}", a.name, a.tag)
}

/// An OCI layout of a result, checked before anything is written
/// ([`check`]).
pub(super) struct CheckedOci {
    result_dir: PathBuf,
    artifact: OciArtifact,
    layout: CheckedLayout,
    read: ReadLayout,
    sbom: Option<Checked>,
    /// The files the layout's index reaches (relative to the layout), with
    /// the digest of each blob: all that is published of it.
    reached: Vec<(String, Option<Sha256Digest>)>,
}

/// Checks the OCI layout `artifact` of the result at `result_dir`: regular
/// files and directories only, no link ([`layout_of_result`]); its index
/// tags the manifest the result's index records, whose config and manifest
/// digests are checked as they are read; every blob is reached from that
/// manifest (a stray one is refused, never published); the SBOM is the one
/// the config pins.
pub(super) fn check(
    result_dir: &Path,
    artifact: OciArtifact,
    store_dir: &Path,
) -> Result<CheckedOci, PostprocessError> {
    let layout = layout_of_result(result_dir, &artifact.files.layout, store_dir)?;
    let target = layout.dir.clone();
    let read = read_layout(&target, &artifact.tag)
        .map_err(|e| PostprocessError::DockerArchive { path: target.clone(), message: e.to_string() })?;
    if read.manifest_descriptor.digest != artifact.digests.manifest {
        return Err(PostprocessError::DockerArchive {
            path: target.clone(),
            message: format!(
                "index.json tags {} as {:?}, but the result's nix2aci.json says {}",
                read.manifest_descriptor.digest, artifact.tag, artifact.digests.manifest
            ),
        });
    }
    if read.manifest.config.digest != artifact.digests.config {
        return Err(PostprocessError::DockerArchive {
            path: target.clone(),
            message: format!(
                "the manifest's config is {}, but the result's nix2aci.json says {}",
                read.manifest.config.digest, artifact.digests.config
            ),
        });
    }
    let mut reached: Vec<(String, Option<Sha256Digest>)> =
        vec![("oci-layout".into(), None), ("index.json".into(), None)];
    let blobs = std::iter::once(read.manifest_descriptor.digest)
        .chain(std::iter::once(read.manifest.config.digest))
        .chain(read.manifest.layers.iter().map(|l| l.digest));
    for d in blobs {
        let rel = format!("blobs/sha256/{}", digest::hex(&d));
        if !reached.iter().any(|(r, _)| *r == rel) {
            reached.push((rel, Some(d)));
        }
    }
    for rel in layout.files.keys() {
        if !reached.iter().any(|(r, _)| r == rel) {
            return Err(PostprocessError::LayoutStray {
                layout: target.clone(),
                path: target.join(rel),
                problem: format!("index.json does not reach it from the manifest tagged {:?}", artifact.tag),
            });
        }
    }
    for (rel, _) in &reached {
        if !layout.files.contains_key(rel) {
            return Err(PostprocessError::LayoutStray {
                layout: target.clone(),
                path: target.join(rel),
                problem: "the manifest needs it, and it is missing".into(),
            });
        }
    }
    let sbom = match &artifact.files.sbom {
        Some(f) => {
            let (sbom, _) = file_of_result(result_dir, f, store_dir)?;
            let pin = read.config.config.labels.get(ANNOTATION).map(String::as_str);
            check_sbom(&sbom, pin, &target)?;
            Some(sbom)
        }
        None => None,
    };
    Ok(CheckedOci { result_dir: result_dir.to_path_buf(), artifact, layout, read, sbom, reached })
}

impl CheckedOci {
    /// The result the layout is in.
    pub(super) fn result_dir(&self) -> &Path {
        &self.result_dir
    }
}

/// Stages one checked OCI layout for `dir`: the docker-archive, the SBOM,
/// then the layout (a link, or a copy of what its index reaches).
pub(super) fn stage(
    txn: &mut fsops::Transaction,
    dir: &Path,
    checked: CheckedOci,
    placement: Placement,
) -> Result<PublishedOci, PostprocessError> {
    let CheckedOci { result_dir, artifact, layout: checked_layout, read, sbom: checked_sbom, reached } = checked;
    let target = checked_layout.dir.clone();
    let layout = dir.join(&artifact.files.layout);
    let base = ImageBase::new(&artifact.name, artifact.version.as_deref(), &artifact.os, &artifact.arch);
    let docker_archive = dir.join(base.docker_archive());
    let staged = txn.staged_path(&docker_archive);
    let archive = write_docker_archive(&read, &reference(&artifact), &staged)
        .map_err(|e| PostprocessError::DockerArchive { path: docker_archive.clone(), message: e.to_string() })?;
    let sbom = match (&artifact.files.sbom, &checked_sbom) {
        (Some(f), Some(c)) => Some(stage_file(txn, placement, &result_dir, dir, f, c)?.0),
        _ => None,
    };
    stage_layout(txn, placement, &checked_layout, &reached, &result_dir, &layout)?;
    let push = source_of(&layout, &artifact.tag, &read);
    Ok(PublishedOci { artifact, layout, target, placement, docker_archive, image_id: archive.image_id, sbom, push })
}

/// One published image index layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedOciIndex {
    pub artifact: OciIndexArtifact,
    /// `DIR/<name>-<version>.oci`
    pub layout: PathBuf,
    /// The layout in the result it links to or was copied from.
    pub target: PathBuf,
    pub placement: Placement,
    /// One docker-archive per platform: the platform (`linux/arm64`), the
    /// archive, and the image ID engines show after loading it.
    pub archives: Vec<(String, PathBuf, Sha256Digest)>,
    /// Each platform's closure SBOM in DIR.
    pub sboms: Vec<PathBuf>,
    /// What `--push` sends: the whole index.
    pub push: PushSource,
}

impl PublishedOciIndex {
    /// The reference the index is tagged with, `<name>:<tag>`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.artifact.name, self.artifact.tag)
    }
}

/// An image index layout of a result, checked before anything is written
/// ([`check_index`]).
pub(super) struct CheckedOciIndex {
    result_dir: PathBuf,
    artifact: OciIndexArtifact,
    layout: CheckedLayout,
    read: ReadIndexLayout,
    sboms: Vec<(FileName, Checked)>,
    reached: Vec<(String, Option<Sha256Digest>)>,
}

impl CheckedOciIndex {
    /// The result the layout is in.
    pub(super) fn result_dir(&self) -> &Path {
        &self.result_dir
    }
}

/// Checks the image index layout `artifact` of the result at `result_dir`
/// as [`check`] checks one image's: the layout's files, the index tagged as
/// the result's index says with the digest it records, each platform's
/// manifest and config (their digests, and the config's platform, which must
/// be the one the image index gives), every blob reached from the index (a
/// stray one refused), and each SBOM against its config's pin.
pub(super) fn check_index(
    result_dir: &Path,
    artifact: OciIndexArtifact,
    store_dir: &Path,
) -> Result<CheckedOciIndex, PostprocessError> {
    let layout = layout_of_result(result_dir, &artifact.files.layout, store_dir)?;
    let target = layout.dir.clone();
    let bad = |message: String| PostprocessError::DockerArchive { path: target.clone(), message };
    let read = read_index_layout(&target, &artifact.tag).map_err(|e| bad(e.to_string()))?;
    if read.index_descriptor.digest != artifact.digests.index {
        return Err(bad(format!(
            "index.json tags {} as {:?}, but the result's nix2aci.json says {}",
            read.index_descriptor.digest, artifact.tag, artifact.digests.index
        )));
    }
    if read.images.len() != artifact.platforms.len() {
        return Err(bad(format!(
            "the image index lists {} images, the result's nix2aci.json {}",
            read.images.len(),
            artifact.platforms.len()
        )));
    }
    let mut reached: Vec<(String, Option<Sha256Digest>)> =
        vec![("oci-layout".into(), None), ("index.json".into(), None)];
    let mut reach = |d: Sha256Digest| {
        let rel = format!("blobs/sha256/{}", digest::hex(&d));
        if !reached.iter().any(|(r, _)| *r == rel) {
            reached.push((rel, Some(d)));
        }
    };
    reach(read.index_descriptor.digest);
    let mut sboms = Vec::new();
    for (i, (image, listed)) in read.images.iter().zip(&artifact.platforms).enumerate() {
        let p = image.manifest_descriptor.platform.as_ref().expect("read_index_layout checks every platform");
        let ours = (listed.os.as_str(), listed.arch.as_str(), listed.variant.as_deref());
        if (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()) != ours
            || image.manifest_descriptor.digest != listed.digests.manifest
            || image.manifest.config.digest != listed.digests.config
        {
            return Err(bad(format!(
                "the image index lists {} for {}, but the result's nix2aci.json lists platforms[{i}] as {}/{} \
                 with manifest {}",
                image.manifest_descriptor.digest,
                platform_text(p),
                listed.os,
                listed.arch,
                listed.digests.manifest
            )));
        }
        reach(image.manifest_descriptor.digest);
        reach(image.manifest.config.digest);
        for l in &image.manifest.layers {
            reach(l.digest);
        }
        if let Some(f) = &listed.sbom {
            let (sbom, _) = file_of_result(result_dir, f, store_dir)?;
            let pin = image.config.config.labels.get(ANNOTATION).map(String::as_str);
            check_sbom(&sbom, pin, &target)?;
            sboms.push((f.clone(), sbom));
        }
    }
    check_reached(&target, &layout, &reached, &artifact.tag)?;
    Ok(CheckedOciIndex { result_dir: result_dir.to_path_buf(), artifact, layout, read, sboms, reached })
}

/// Every file of the layout is `reached`, and every file reached is there.
fn check_reached(
    target: &Path,
    layout: &CheckedLayout,
    reached: &[(String, Option<Sha256Digest>)],
    tag: &str,
) -> Result<(), PostprocessError> {
    for rel in layout.files.keys() {
        if !reached.iter().any(|(r, _)| r == rel) {
            return Err(PostprocessError::LayoutStray {
                layout: target.to_path_buf(),
                path: target.join(rel),
                problem: format!("index.json does not reach it from what it tags {tag:?}"),
            });
        }
    }
    for (rel, _) in reached {
        if !layout.files.contains_key(rel) {
            return Err(PostprocessError::LayoutStray {
                layout: target.to_path_buf(),
                path: target.join(rel),
                problem: "the index needs it, and it is missing".into(),
            });
        }
    }
    Ok(())
}

/// Stages one checked image index layout for `dir`: one docker-archive
/// per platform, the SBOMs, then the layout (a link, or a copy of what its
/// index reaches).
pub(super) fn stage_index(
    txn: &mut fsops::Transaction,
    dir: &Path,
    checked: CheckedOciIndex,
    placement: Placement,
) -> Result<PublishedOciIndex, PostprocessError> {
    let CheckedOciIndex { result_dir, artifact, layout: checked_layout, read, sboms: checked_sboms, reached } = checked;
    let target = checked_layout.dir.clone();
    let layout = dir.join(&artifact.files.layout);
    let reference = format!("{}:{}", artifact.name, artifact.tag);
    let mut archives = Vec::with_capacity(read.images.len());
    for image in &read.images {
        let p = image.manifest_descriptor.platform.as_ref().expect("read_index_layout checks every platform");
        let arch = format!("{}{}", p.architecture, p.variant.as_deref().unwrap_or(""));
        let base = ImageBase::new(&artifact.name, artifact.version.as_deref(), &p.os, &arch);
        let path = dir.join(base.docker_archive());
        let staged = txn.staged_path(&path);
        let written = write_docker_archive(image, &reference, &staged)
            .map_err(|e| PostprocessError::DockerArchive { path: path.clone(), message: e.to_string() })?;
        archives.push((platform_text(p), path, written.image_id));
    }
    let mut sboms = Vec::with_capacity(checked_sboms.len());
    for (f, c) in &checked_sboms {
        sboms.push(stage_file(txn, placement, &result_dir, dir, f, c)?.0);
    }
    stage_layout(txn, placement, &checked_layout, &reached, &result_dir, &layout)?;
    let mut blobs: Vec<(Sha256Digest, u64)> = Vec::new();
    for image in &read.images {
        for d in std::iter::once(&image.manifest.config).chain(&image.manifest.layers) {
            if !blobs.iter().any(|(b, _)| *b == d.digest) {
                blobs.push((d.digest, d.size));
            }
        }
    }
    let push = PushSource {
        layout: layout.clone(),
        tag: artifact.tag.clone(),
        manifest_size: read.index_descriptor.size + read.images.iter().map(|i| i.manifest_descriptor.size).sum::<u64>(),
        blobs,
        all: true,
    };
    Ok(PublishedOciIndex { artifact, layout, target, placement, archives, sboms, push })
}

/// Stages the layout `checked` of the result `result_dir` as `layout` in
/// DIR: a link to it (a GC root when `placement` says so; a directory an
/// earlier `--copy` left goes first), or a copy of what its index reaches.
fn stage_layout(
    txn: &mut fsops::Transaction,
    placement: Placement,
    checked: &CheckedLayout,
    reached: &[(String, Option<Sha256Digest>)],
    result_dir: &Path,
    layout: &Path,
) -> Result<(), PostprocessError> {
    match placement {
        Placement::Copy => copy_layout(checked, reached, &txn.staged_path(layout), layout),
        Placement::Link { gc_root } => {
            if std::fs::symlink_metadata(layout).is_ok_and(|m| m.is_dir()) {
                txn.remove_tree(layout);
            }
            txn.symlink(&checked.dir, layout, gc_root.then_some(result_dir))
                .map_err(|e| PostprocessError::WriteFailed { path: layout.to_path_buf(), message: e.to_string() })
        }
    }
}

/// Copies what the layout's index reaches, `reached`, to the directory
/// `tmp` (staged for `dest`), each blob's digest checked as it is copied.
fn copy_layout(
    layout: &CheckedLayout,
    reached: &[(String, Option<Sha256Digest>)],
    tmp: &Path,
    dest: &Path,
) -> Result<(), PostprocessError> {
    let write_err =
        |e: std::io::Error| PostprocessError::WriteFailed { path: dest.to_path_buf(), message: e.to_string() };
    std::fs::create_dir_all(tmp.join("blobs/sha256")).map_err(write_err)?;
    for (rel, want) in reached {
        let source = &layout.files[rel];
        let from = source.open().map_err(|_| PostprocessError::Changed { path: source.path.clone() })?;
        let mut hashing = HashingRead { inner: from, hasher: Sha256::new() };
        let to = tmp.join(rel);
        let mut out =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(&to).map_err(write_err)?;
        std::io::copy(&mut hashing, &mut out).map_err(write_err)?;
        out.sync_all().map_err(write_err)?;
        if let Some(want) = want {
            let got = Sha256Digest::from_bytes(hashing.hasher.finalize().into());
            if got != *want {
                return Err(PostprocessError::LayoutStray {
                    layout: layout.dir.clone(),
                    path: source.path.clone(),
                    problem: format!("its digest is {got}, not {want}"),
                });
            }
        }
    }
    Ok(())
}

/// Hashes what it reads.
struct HashingRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
