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
//! OCI images are never signed here (cosign and the like are out of scope).

use std::path::{Path, PathBuf};

use super::fsops;
use super::postprocess::{add_indirect_root, place_file, Placement, PostprocessError};
use crate::archive::digest::Sha256Digest;
use crate::formats::oci::docker::write_docker_archive;
use crate::formats::oci::read_layout;
use crate::result::{ImageBase, OciArtifact};

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

/// Publishes one OCI layout of the result at `result_dir` into `dir`.
pub(super) fn publish(
    dir: &Path,
    result_dir: &Path,
    artifact: OciArtifact,
    placement: Placement,
    nix_store: &Path,
) -> Result<PublishedOci, PostprocessError> {
    let target = result_dir.join(&artifact.files.layout);
    let layout = dir.join(&artifact.files.layout);
    let base = ImageBase::new(&artifact.name, artifact.version.as_deref(), &artifact.os, &artifact.arch);
    let docker_archive = dir.join(base.docker_archive());
    let archive_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: crate::formats::oci::LayoutError| PostprocessError::DockerArchive { path, message: e.to_string() }
    };
    let read = read_layout(&target, &artifact.tag).map_err(archive_err(&target))?;
    if read.manifest_descriptor.digest != artifact.digests.manifest {
        return Err(PostprocessError::DockerArchive {
            path: target.clone(),
            message: format!(
                "index.json tags {} as {:?}, but the result's nix2aci.json says {}",
                read.manifest_descriptor.digest, artifact.tag, artifact.digests.manifest
            ),
        });
    }
    let archive =
        write_docker_archive(&read, &reference(&artifact), &docker_archive).map_err(archive_err(&docker_archive))?;

    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| PostprocessError::WriteFailed { path, message: e.to_string() }
    };
    // An earlier --copy left a directory: it goes first.
    if std::fs::symlink_metadata(&layout).map(|m| m.is_dir()).unwrap_or(false) {
        make_writable(&layout);
        std::fs::remove_dir_all(&layout).map_err(write_err(&layout))?;
    }
    let sbom = match &artifact.files.sbom {
        Some(f) => Some(place_file(placement, nix_store, result_dir, dir, f)?.0),
        None => None,
    };
    match placement {
        Placement::Copy => replace_with_dir_copy(&target, &layout).map_err(write_err(&layout))?,
        Placement::Link { gc_root } => {
            if gc_root {
                add_indirect_root(nix_store, &layout, result_dir)?;
            }
            fsops::replace_symlink(&target, &layout).map_err(write_err(&layout))?;
        }
    }
    Ok(PublishedOci { artifact, layout, target, placement, docker_archive, image_id: archive.image_id, sbom })
}

/// Copies the directory `source` to `dest` (through a hidden temporary
/// directory renamed into place), replacing a file or link at `dest`.
fn replace_with_dir_copy(source: &Path, dest: &Path) -> std::io::Result<()> {
    let tmp = fsops::temp_sibling(dest);
    let result = copy_dir(source, &tmp).and_then(|()| {
        fsops::remove_if_exists(dest)?;
        std::fs::rename(&tmp, dest)
    });
    if result.is_err() {
        make_writable(&tmp);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn copy_dir(source: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir(dest)?;
    let mut names: Vec<_> = std::fs::read_dir(source)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let (from, to) = (source.join(&name), dest.join(&name));
        let meta = std::fs::symlink_metadata(&from)?;
        if meta.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// Directories copied out of the store are read-only; make a tree removable.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::symlink_metadata(dir) {
        if m.is_dir() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}
