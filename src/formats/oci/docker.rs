//! The docker-archive tarball of an OCI layout (what `docker save` writes and
//! `docker load` and `podman load` read): `manifest.json`, the image config
//! as `<hex>.json`, and each layer blob as is (`<hex>.tar.gz`, `<hex>.tar.zst`,
//! or `<hex>.tar` for uncompressed layers). The engines recognise a layer's
//! compression by its first bytes, not by its name, and decompress it
//! themselves (docs/oci.md says which versions read zstd).
//!
//! Layers are copied from the layout and hashed on the way: a blob whose
//! digest or size is not the manifest's stops the archive.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::{LayoutError, ReadLayout};
use super::types::{MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD};
use crate::archive::digest::{self, Sha256Digest};

/// An entry of `manifest.json`.
#[derive(Debug, Serialize)]
struct ArchiveManifest<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<&'a str>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What [`write_docker_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerArchive {
    /// The image ID engines show: the config's digest.
    pub image_id: Sha256Digest,
    /// Bytes of the tarball.
    pub size: u64,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io { action, path: path.to_path_buf(), source }
}

/// Writes the docker-archive of `layout`, tagged `repo_tag` (`name:tag`), to
/// `dest` through a hidden temporary file beside it.
pub fn write_docker_archive(layout: &ReadLayout, repo_tag: &str, dest: &Path) -> Result<DockerArchive, LayoutError> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = write_to(layout, repo_tag, &tmp);
    match result {
        Ok(image_id) => {
            let size = std::fs::metadata(&tmp).map_err(io("read", &tmp))?.len();
            std::fs::rename(&tmp, dest).map_err(io("rename the archive to", dest))?;
            Ok(DockerArchive { image_id, size })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn header(path: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).expect("archive names are short ASCII");
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(1);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

fn write_to(layout: &ReadLayout, repo_tag: &str, tmp: &Path) -> Result<Sha256Digest, LayoutError> {
    let file = std::fs::File::create(tmp).map_err(io("create", tmp))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let config_name = format!("{}.json", digest::hex(&layout.manifest.config.digest));
    let layer_names: Vec<String> = layout
        .manifest
        .layers
        .iter()
        .map(|l| {
            let ext = match l.media_type.as_str() {
                MEDIA_TYPE_LAYER_TAR => "tar",
                MEDIA_TYPE_LAYER_ZSTD => "tar.zst",
                _ => "tar.gz",
            };
            format!("{}.{ext}", digest::hex(&l.digest))
        })
        .collect();
    let manifest =
        [ArchiveManifest { config: config_name.clone(), repo_tags: vec![repo_tag], layers: layer_names.clone() }];
    let manifest = serde_json::to_vec(&manifest).expect("the archive manifest serialises");
    tar.append(&header("manifest.json", manifest.len() as u64), manifest.as_slice()).map_err(io("write", tmp))?;
    let config = &layout.config_bytes;
    tar.append(&header(&config_name, config.len() as u64), config.as_slice()).map_err(io("write", tmp))?;
    for (desc, name) in layout.manifest.layers.iter().zip(&layer_names) {
        let path = layout.blob_path(&desc.digest);
        let file = std::fs::File::open(&path).map_err(io("read", &path))?;
        let actual_size = file.metadata().map_err(io("read", &path))?.len();
        if actual_size != desc.size {
            return Err(LayoutError::SizeMismatch { path, expected: desc.size, actual: actual_size });
        }
        let mut reader = HashingReader { inner: file, sha256: Sha256::new(), bytes: 0 };
        tar.append(&header(name, desc.size), &mut reader).map_err(io("copy a layer from", &path))?;
        let actual = Sha256Digest::from_bytes(reader.sha256.finalize().into());
        if actual != desc.digest {
            return Err(LayoutError::DigestMismatch {
                path,
                expected: desc.digest,
                expected_size: desc.size,
                actual,
                actual_size,
            });
        }
    }
    let mut out = tar.into_inner().map_err(io("write", tmp))?;
    out.flush().map_err(io("write", tmp))?;
    out.get_ref().sync_all().map_err(io("write", tmp))?;
    Ok(layout.manifest.config.digest)
}

/// A reader that hashes what passes through it.
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) sha256: Sha256,
    pub(crate) bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}
