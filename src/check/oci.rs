//! `mkaci verify` for OCI output: an image layout directory (`<base>.oci`,
//! what mkOCI builds) or its docker-archive (`<base>.docker.tar`, what
//! postprocess writes for `podman load`). OCI images are not signed: what
//! ties them to their build is their digests, so every one is recomputed.
//!
//! For a layout, in order, stopping at the first failure:
//! 1. `index.json` tags exactly one manifest (mkOCI writes one);
//! 2. the manifest and config blobs have the digests and sizes their
//!    descriptors give ([`read_layout`]);
//! 3. every layer blob has its descriptor's digest and size, and unpacks (a
//!    gzip or zstd layer is decompressed, zstd with a bounded window,
//!    [`ZSTD_WINDOW_LOG_MAX`]) to the tar whose SHA-256 is the config's
//!    `diff_id` for it;
//! 4. when the config pins a closure SBOM (the label [`ANNOTATION`]), the
//!    SHA-256 of `<base>.closure.json` beside the layout.
//!
//! For an image index layout (`<name>-<version>.oci`, what mkMultiArch
//! builds of mkOCI images), [`verify_index_layout`]: `index.json` tags one
//! image index, whose blob has its digest and size; the index lists each
//! platform once, and each manifest's config is for the platform the index
//! gives it; then every image is checked as above, its SBOM named after its
//! platform.
//!
//! For a docker-archive: `manifest.json` names one image; every member named
//! after a digest (`<hex>.json`, `<hex>.tar.gz`, `<hex>.tar.zst`, `<hex>.tar`)
//! has it; each
//! layer unpacks to its config `diff_id`; the config is the one of the layout
//! beside the archive, when there is one; and the SBOM pin as above.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::archive::digest::{self, Sha256Digest};
use crate::archive::untrusted::open_regular;
use crate::check::inspect::{max_entries, max_unpacked, UnpackLimit, UnpackLimitExceeded};
use crate::check::layers::{LayerRuleError, LayerRules};
use crate::check::tar::{TarEntry, TarError, TarReader};
use crate::formats::oci::docker::HashingReader;
use crate::formats::oci::layout::{self, read_index_layout, read_layout, LayoutError, ReadLayout, MAX_JSON_SIZE};
use crate::formats::oci::types::{
    ImageConfig, ImageIndex, Platform, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD,
};
use crate::image::sbom::{check_pinned, PinnedSbom, SbomError, ANNOTATION};

/// Why an OCI image failed verification. Each message names the file, what
/// was expected and what was found, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum OciVerifyError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Sbom(#[from] SbomError),
    #[error(
        "{} is a directory but not an OCI image layout (it has no index.json); pass DIR/<base>.oci \
         or DIR/<base>.docker.tar for an OCI image, DIR/<image>.aci for an ACI",
        dir.display()
    )]
    NotALayout { dir: PathBuf },
    #[error(
        "{} tags {count} manifests ({tags}), where mkOCI writes one; pass a layout mkOCI built \
         (DIR/<base>.oci as postprocess publishes it)",
        index.display()
    )]
    NotOneManifest { index: PathBuf, count: usize, tags: String },
    #[error(
        "{} tags an image index of several platforms' images (what mkMultiArch builds of mkOCI images), \
         not one image; verify it as an index layout",
        dir.display()
    )]
    IsIndex { dir: PathBuf },
    #[error(
        "layer {number} of {} ({media_type}) cannot be unpacked: {message}; the layout is damaged, \
         rebuild the image with mkOCI",
        path.display()
    )]
    BadLayer { path: PathBuf, number: usize, media_type: String, message: String },
    #[error(
        "layer {number} ({}) unpacks to a tar with {actual}, but the image config's diff_id for it \
         is {expected}; the layer was changed after it was built, rebuild the image with mkOCI",
        path.display()
    )]
    DiffIdMismatch { path: PathBuf, number: usize, expected: Sha256Digest, actual: Sha256Digest },
    #[error(
        "{} is not a docker-archive as postprocess writes it: {message}; run postprocess.sh again \
         (it writes the archive from the .oci layout beside it)",
        path.display()
    )]
    BadArchive { path: PathBuf, message: String },
    #[error(
        "{} holds {member} whose SHA-256 is {actual}, not the digest its name gives; the archive \
         is damaged, run postprocess.sh again",
        path.display()
    )]
    ArchiveMember { path: PathBuf, member: String, actual: Sha256Digest },
    #[error(
        "{} holds the image config {archive}, but the layout beside it, {}, has {layout}; the \
         archive is from another build, run postprocess.sh again",
        path.display(),
        layout_dir.display()
    )]
    ArchiveNotLayout { path: PathBuf, layout_dir: PathBuf, archive: Sha256Digest, layout: Sha256Digest },
    #[error("{} cannot be read the same way by every tool: {error}", path.display())]
    Tar { path: PathBuf, error: TarError },
    #[error(
        "layer {number} ({}) cannot be unpacked the same way by every tool: {error}; rebuild the image \
         with mkOCI",
        path.display()
    )]
    LayerRule { path: PathBuf, number: usize, error: LayerRuleError },
    #[error("layer {number} ({}): {error}", path.display())]
    Unpacked { path: PathBuf, number: usize, error: UnpackLimitExceeded },
    #[error(
        "{} holds two members named {member:?}; skopeo and podman load the first, other readers the \
         last, so they would load different images; run postprocess.sh again",
        path.display()
    )]
    DuplicateMember { path: PathBuf, member: String },
    #[error(
        "{} holds {member:?}, which its manifest.json does not name; an archive as postprocess writes \
         it holds only manifest.json, the config and the layers; run postprocess.sh again",
        path.display()
    )]
    UnreachedMember { path: PathBuf, member: String },
    #[error(
        "{} holds the JSON member {member:?} of {size} bytes; at most {limit} are read (postprocess \
         writes a few KiB)",
        path.display()
    )]
    MemberTooLarge { path: PathBuf, member: String, size: u64, limit: u64 },
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What [`verify_layout`] and [`verify_docker_archive`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciCheck {
    /// The tag (layout) or `name:tag` (docker-archive).
    pub tag: String,
    /// The config's digest: the image ID engines show.
    pub config_digest: Sha256Digest,
    /// The manifest's digest (a layout only; a docker-archive has none).
    pub manifest_digest: Option<Sha256Digest>,
    pub layers: usize,
    /// Bytes of the layer blobs as stored, and of their tars.
    pub layer_bytes: u64,
    pub tar_bytes: u64,
    /// The SBOM the config pins, checked.
    pub sbom: Option<PinnedSbom>,
    /// The layout the docker-archive's config was compared with.
    pub same_as_layout: Option<PathBuf>,
}

/// Whether `path` is OCI output `mkaci verify` checks: a directory (an image
/// layout) or a file named `*.docker.tar`.
pub fn is_oci_output(path: &Path) -> bool {
    path.is_dir() || path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".docker.tar"))
}

/// The layout's `index.json` (refused as no layout when missing), parsed,
/// with the tags (`org.opencontainers.image.ref.name`) of its entries.
fn tagged_index(dir: &Path) -> Result<(PathBuf, ImageIndex, Vec<String>), OciVerifyError> {
    let index_path = dir.join("index.json");
    if !index_path.exists() {
        return Err(OciVerifyError::NotALayout { dir: dir.to_path_buf() });
    }
    let index: ImageIndex = layout::parse(&layout::read(&index_path)?, &index_path, "OCI image index")?;
    let tags = index.manifests.iter().filter_map(|m| m.annotations.get(ANNOTATION_REF_NAME)).cloned().collect();
    Ok((index_path, index, tags))
}

/// Verifies the image layout at `dir`; see the module documentation.
pub fn verify_layout(dir: &Path) -> Result<OciCheck, OciVerifyError> {
    let (index_path, index, tags) = tagged_index(dir)?;
    let [tag] = tags.as_slice() else {
        return Err(OciVerifyError::NotOneManifest { index: index_path, count: tags.len(), tags: tags.join(", ") });
    };
    if index.manifests.iter().any(|m| m.media_type == MEDIA_TYPE_INDEX) {
        return Err(OciVerifyError::IsIndex { dir: dir.to_path_buf() });
    }
    let read = read_layout(dir, tag)?;
    let (layer_bytes, tar_bytes) = check_layers(&read)?;
    let sbom = check_pinned(dir, read.config.config.labels.get(ANNOTATION).map(String::as_str))?;
    Ok(OciCheck {
        tag: tag.to_string(),
        config_digest: read.manifest.config.digest,
        manifest_digest: Some(read.manifest_descriptor.digest),
        layers: read.manifest.layers.len(),
        layer_bytes,
        tar_bytes,
        sbom,
        same_as_layout: None,
    })
}

/// What [`verify_index_layout`] checked: the image index and each image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciIndexCheck {
    pub tag: String,
    /// The image index blob's digest (what a registry serves for the tag).
    pub index_digest: Sha256Digest,
    /// Each platform's image, in the index's order.
    pub images: Vec<(Platform, OciCheck)>,
}

/// Whether the layout at `dir` tags an image index (what `mkMultiArch`
/// builds of OCI images) rather than one image's manifest. `false` when
/// its `index.json` cannot be read; the verification that follows says why.
pub fn is_index_layout(dir: &Path) -> bool {
    let index_path = dir.join("index.json");
    let Ok(bytes) = layout::read(&index_path) else { return false };
    let Ok(index) = layout::parse::<ImageIndex>(&bytes, &index_path, "OCI image index") else { return false };
    index.manifests.iter().any(|m| m.media_type == MEDIA_TYPE_INDEX)
}

/// Verifies the image index layout at `dir`: `index.json` tags exactly one
/// image index; the index lists one to [`layout::MAX_INDEX_MANIFESTS`]
/// manifests, each with a platform no other has, and each manifest's config
/// is for that platform ([`read_index_layout`]); then every image is checked
/// as [`verify_layout`] checks one (every layer unpacked to its `diff_id`),
/// and the SBOM its config pins, `<name>-<version>-<os>-<arch>.closure.json`
/// beside the layout.
pub fn verify_index_layout(dir: &Path) -> Result<OciIndexCheck, OciVerifyError> {
    let (index_path, index, tags) = tagged_index(dir)?;
    let ([tag], [_]) = (tags.as_slice(), index.manifests.as_slice()) else {
        return Err(OciVerifyError::NotOneManifest { index: index_path, count: tags.len(), tags: tags.join(", ") });
    };
    let read = read_index_layout(dir, tag)?;
    let stem = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = stem.strip_suffix(".oci").unwrap_or(&stem).to_string();
    let mut images = Vec::with_capacity(read.images.len());
    for image in &read.images {
        let platform = image.manifest_descriptor.platform.clone().expect("read_index_layout checks every platform");
        let (layer_bytes, tar_bytes) = check_layers(image)?;
        // The SBOM beside the layout named as the platform's own layout
        // would be: `<name>-<version>-<os>-<arch>.closure.json`.
        let own = dir.with_file_name(format!("{stem}-{}-{}.oci", platform.os, platform.architecture));
        let sbom = check_pinned(&own, image.config.config.labels.get(ANNOTATION).map(String::as_str))?;
        images.push((
            platform,
            OciCheck {
                tag: tag.to_string(),
                config_digest: image.manifest.config.digest,
                manifest_digest: Some(image.manifest_descriptor.digest),
                layers: image.manifest.layers.len(),
                layer_bytes,
                tar_bytes,
                sbom,
                same_as_layout: None,
            },
        ));
    }
    Ok(OciIndexCheck { tag: tag.to_string(), index_digest: read.index_descriptor.digest, images })
}

/// Checks every layer blob of `read`: its descriptor's digest and size, and
/// that it unpacks to the tar of the config's `diff_id`. Returns the bytes
/// of the blobs and of their tars.
fn check_layers(read: &ReadLayout) -> Result<(u64, u64), OciVerifyError> {
    let (mut layer_bytes, mut tar_bytes) = (0, 0);
    let mut image = ImageBudget::new();
    for (i, (desc, diff_id)) in read.manifest.layers.iter().zip(&read.config.rootfs.diff_ids).enumerate() {
        let path = read.blob_path(&desc.digest);
        let (file, size) = open_regular(&path).map_err(LayoutError::from)?;
        if size != desc.size {
            return Err(LayoutError::SizeMismatch { path, expected: desc.size, actual: size }.into());
        }
        let Unpacked { blob, blob_size, tar, tar_size } =
            unpack_layer(std::io::BufReader::with_capacity(256 << 10, file), &desc.media_type, &mut image)
                .map_err(|f| f.into_error(&path, i + 1, &desc.media_type))?;
        if blob != desc.digest || blob_size != desc.size {
            return Err(LayoutError::DigestMismatch {
                path,
                expected: desc.digest,
                expected_size: desc.size,
                actual: blob,
                actual_size: blob_size,
            }
            .into());
        }
        if tar != *diff_id {
            return Err(OciVerifyError::DiffIdMismatch { path, number: i + 1, expected: *diff_id, actual: tar });
        }
        layer_bytes += blob_size;
        tar_bytes += tar_size;
    }
    Ok((layer_bytes, tar_bytes))
}

/// The largest zstd window (as a power of two) a layer may ask the reader
/// for: 8 MiB. mkaci's frames hold one chunk each (`archive::CHUNK_SIZE`,
/// 2 MiB), so their windows are at most that; 8 MiB also covers the `zstd`
/// tool up to level 19. A hostile frame that asks for more (up to 2 GiB on a
/// 64-bit machine, by its header alone) is refused before it is allocated.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// What reading a layer blob found: its SHA-256 and size, and those of the
/// tar it holds.
struct Unpacked {
    blob: Sha256Digest,
    blob_size: u64,
    tar: Sha256Digest,
    tar_size: u64,
}

/// What one image may still take, across its layers: the one-reading rules
/// (and their entry limit), and the bytes it may still unpack.
struct ImageBudget {
    rules: LayerRules,
    left: u64,
    limit: u64,
}

impl ImageBudget {
    fn new() -> ImageBudget {
        let limit = max_unpacked();
        ImageBudget { rules: LayerRules::new(max_entries()), left: limit, limit }
    }
}

/// Why a layer could not be read.
enum LayerFailure {
    Unpack(String),
    Limit(UnpackLimitExceeded),
    Tar(TarError),
    Rule(LayerRuleError),
}

impl LayerFailure {
    fn into_error(self, path: &Path, number: usize, media_type: &str) -> OciVerifyError {
        let path = path.to_path_buf();
        match self {
            LayerFailure::Unpack(message) => {
                OciVerifyError::BadLayer { path, number, media_type: media_type.to_string(), message }
            }
            LayerFailure::Limit(error) => OciVerifyError::Unpacked { path, number, error },
            LayerFailure::Tar(error) => OciVerifyError::Tar { path, error },
            LayerFailure::Rule(error) => OciVerifyError::LayerRule { path, number, error },
        }
    }
}

/// The tar a layer blob of `media_type` holds: the one place where the
/// decompression is chosen.
fn layer_tar<'a, R: std::io::BufRead + 'a>(blob: R, media_type: &str) -> Result<Box<dyn Read + 'a>, String> {
    match media_type {
        MEDIA_TYPE_LAYER_GZIP => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(blob))),
        MEDIA_TYPE_LAYER_ZSTD => {
            let mut d = zstd::stream::read::Decoder::with_buffer(blob)
                .map_err(|e| format!("cannot start a zstd decoder ({e})"))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| format!("cannot start a zstd decoder ({e})"))?;
            Ok(Box::new(d))
        }
        MEDIA_TYPE_LAYER_TAR => Ok(Box::new(blob)),
        other => Err(format!("the media type {other:?} is none mkOCI writes")),
    }
}

/// Reads a layer blob of `media_type` to its end, its tar through the
/// strict reader and the one-reading rules of `image` (the layers before it
/// already read), within what `image` may still unpack.
fn unpack_layer<R: std::io::BufRead>(
    blob: R,
    media_type: &str,
    image: &mut ImageBudget,
) -> Result<Unpacked, LayerFailure> {
    let mut raw = HashingBufReader { inner: blob, sha256: Sha256::new(), bytes: 0 };
    let io = |e: std::io::Error| match e.get_ref().and_then(|i| i.downcast_ref::<UnpackLimitExceeded>()) {
        Some(hit) => LayerFailure::Limit(hit.clone()),
        None if media_type == MEDIA_TYPE_LAYER_GZIP => LayerFailure::Unpack(format!("not a gzip stream ({e})")),
        None if media_type == MEDIA_TYPE_LAYER_ZSTD => LayerFailure::Unpack(format!(
            "not a zstd stream whose frames ask for at most a {} MiB window ({e})",
            1u32 << (ZSTD_WINDOW_LOG_MAX - 20)
        )),
        None => LayerFailure::Unpack(e.to_string()),
    };
    image.rules.next_layer();
    let (tar, tar_size) = {
        let tar = layer_tar(&mut raw, media_type).map_err(LayerFailure::Unpack)?;
        let limited = UnpackLimit { inner: tar, left: image.left, limit: image.limit };
        let hashed = HashingReader { inner: limited, sha256: Sha256::new(), bytes: 0 };
        let mut reader = TarReader::new(
            hashed,
            image.rules.entries_left(),
            "raise the limit with the environment variable MKACI_MAX_ENTRIES=N if the image is genuine",
        );
        loop {
            match reader.next_entry() {
                Ok(Some(entry)) => image.rules.entry(&entry).map_err(LayerFailure::Rule)?,
                Ok(None) => break,
                Err(TarError::Io { source, .. }) => return Err(io(source)),
                Err(e) => return Err(LayerFailure::Tar(e)),
            }
        }
        // What follows the end marker is part of the tar (and its diff_id).
        let mut hashed = reader.into_inner();
        std::io::copy(&mut hashed, &mut std::io::sink()).map_err(io)?;
        image.left = hashed.inner.left;
        (Sha256Digest::from_bytes(hashed.sha256.finalize().into()), hashed.bytes)
    };
    // Whatever follows the last gzip member counts in the blob's digest.
    std::io::copy(&mut raw, &mut std::io::sink()).map_err(|e| LayerFailure::Unpack(e.to_string()))?;
    Ok(Unpacked { blob: Sha256Digest::from_bytes(raw.sha256.finalize().into()), blob_size: raw.bytes, tar, tar_size })
}

/// [`HashingReader`] for a buffered reader: hashes what is consumed.
struct HashingBufReader<R> {
    inner: R,
    sha256: Sha256,
    bytes: u64,
}

impl<R: std::io::BufRead> Read for HashingBufReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for HashingBufReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.sha256.update(&buf[..n]);
            self.bytes += n as u64;
        }
        self.inner.consume(amt)
    }
}

/// Most members a docker-archive may hold: engines refuse images of more
/// than 127 layers.
pub const MAX_ARCHIVE_MEMBERS: u64 = 1024;

/// An entry of a docker-archive's `manifest.json`.
#[derive(Debug, Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A member of a docker-archive named after a digest, as read.
struct Member {
    digest: Sha256Digest,
    size: u64,
    /// A layer's media type and the offset of its data in the archive;
    /// `None` for the config.
    layer: Option<(&'static str, u64)>,
    /// The config's bytes (small); empty for a layer.
    bytes: Vec<u8>,
}

/// Verifies the docker-archive at `path`; see the module documentation.
pub fn verify_docker_archive(path: &Path) -> Result<OciCheck, OciVerifyError> {
    let bad = |message: String| OciVerifyError::BadArchive { path: path.to_path_buf(), message };
    let (file, _) = open_regular(path).map_err(LayoutError::from)?;
    let mut tar = TarReader::new(
        std::io::BufReader::with_capacity(256 << 10, file),
        MAX_ARCHIVE_MEMBERS,
        "postprocess writes manifest.json, one config and one member per layer",
    );
    let tar_err = |error: TarError| OciVerifyError::Tar { path: path.to_path_buf(), error };
    let mut manifest: Option<Vec<u8>> = None;
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    while let Some(entry) = tar.next_entry().map_err(tar_err)? {
        let Ok(name) = String::from_utf8(entry.name.clone()) else {
            return Err(bad(format!("it holds a member whose name {:?} is not UTF-8", show(&entry.name))));
        };
        if !entry.is_file() {
            return Err(bad(format!(
                "its member {name:?} is of tar type {:?}; postprocess writes only regular files",
                entry.kind as char
            )));
        }
        // Readers that keep the first of two members of one name (skopeo,
        // podman) and those that keep the last would load different images.
        if name == "manifest.json" && manifest.is_some() || members.contains_key(&name) {
            return Err(OciVerifyError::DuplicateMember { path: path.to_path_buf(), member: name });
        }
        let json_member = |tar: &mut TarReader<_>, entry: &TarEntry| -> Result<Vec<u8>, OciVerifyError> {
            if entry.size > MAX_JSON_SIZE {
                return Err(OciVerifyError::MemberTooLarge {
                    path: path.to_path_buf(),
                    member: name.clone(),
                    size: entry.size,
                    limit: MAX_JSON_SIZE,
                });
            }
            let mut bytes = Vec::with_capacity(entry.size as usize);
            tar.data().read_to_end(&mut bytes).map_err(|e| bad(e.to_string()))?;
            Ok(bytes)
        };
        if name == "manifest.json" {
            manifest = Some(json_member(&mut tar, &entry)?);
            continue;
        }
        let (hex, kind) = match name.rsplit_once('.') {
            Some((stem, "gz")) if stem.ends_with(".tar") => {
                (stem.trim_end_matches(".tar"), Some(MEDIA_TYPE_LAYER_GZIP))
            }
            Some((stem, "zst")) if stem.ends_with(".tar") => {
                (stem.trim_end_matches(".tar"), Some(MEDIA_TYPE_LAYER_ZSTD))
            }
            Some((stem, "tar")) => (stem, Some(MEDIA_TYPE_LAYER_TAR)),
            Some((stem, "json")) => (stem, None),
            _ => return Err(bad(format!("it holds {name:?}, which is not manifest.json, <hex>.json or a layer"))),
        };
        let named = digest::parse(&format!("sha256:{hex}"))
            .ok_or_else(|| bad(format!("{name:?} is not named after a SHA-256 digest")))?;
        let member = match kind {
            Some(media_type) => {
                // Only hashed here; unpacked below, in the manifest's order,
                // for the rules that span layers.
                let mut hashing = HashingReader { inner: tar.data(), sha256: Sha256::new(), bytes: 0 };
                std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
                let (digest, size) = (Sha256Digest::from_bytes(hashing.sha256.finalize().into()), hashing.bytes);
                Member { digest, size, layer: Some((media_type, entry.data_offset)), bytes: Vec::new() }
            }
            None => {
                // One config is all the manifest can name; holding a second
                // would only cost memory.
                if let Some(first) = members.iter().find(|(_, m)| m.layer.is_none()).map(|(n, _)| n) {
                    return Err(bad(format!(
                        "it holds two configs, {first:?} and {name:?}, where postprocess writes one"
                    )));
                }
                let bytes = json_member(&mut tar, &entry)?;
                Member { digest: digest::of_bytes(&bytes), size: bytes.len() as u64, layer: None, bytes }
            }
        };
        if member.digest != named {
            return Err(OciVerifyError::ArchiveMember {
                path: path.to_path_buf(),
                member: name,
                actual: member.digest,
            });
        }
        members.insert(name, member);
    }
    let manifest = manifest.ok_or_else(|| bad("it has no manifest.json".into()))?;
    let entries: Vec<ArchiveEntry> =
        serde_json::from_slice(&manifest).map_err(|e| bad(format!("its manifest.json is not valid: {e}")))?;
    let [entry] = entries.as_slice() else {
        return Err(bad(format!("its manifest.json lists {} images, where postprocess writes one", entries.len())));
    };
    let config_member =
        members.get(&entry.config).ok_or_else(|| bad(format!("its config {:?} is missing", entry.config)))?;
    let config: ImageConfig = serde_json::from_slice(&config_member.bytes)
        .map_err(|e| bad(format!("its config {:?} is not an OCI image config: {e}", entry.config)))?;
    if config.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(bad(format!(
            "its config lists {} diff_ids for the {} layers of manifest.json",
            config.rootfs.diff_ids.len(),
            entry.layers.len()
        )));
    }
    let (mut layer_bytes, mut tar_bytes) = (0, 0);
    let mut image = ImageBudget::new();
    for (i, (name, diff_id)) in entry.layers.iter().zip(&config.rootfs.diff_ids).enumerate() {
        let m = members.get(name).ok_or_else(|| bad(format!("its layer {name:?} is missing")))?;
        let (media_type, offset) =
            m.layer.ok_or_else(|| bad(format!("{name:?} is listed as a layer but is not one")))?;
        // The archive is read again at the member, layer after layer in the
        // manifest's order; its bytes must still be the ones hashed above.
        let (mut file, _) = open_regular(path).map_err(LayoutError::from)?;
        file.seek(std::io::SeekFrom::Start(offset)).map_err(|e| bad(e.to_string()))?;
        let member = std::io::BufReader::with_capacity(256 << 10, file.take(m.size));
        let Unpacked { blob, blob_size, tar, tar_size } = unpack_layer(member, media_type, &mut image)
            .map_err(|f| f.into_error(&path.join(name), i + 1, media_type))?;
        if blob != m.digest || blob_size != m.size {
            return Err(bad(format!("its layer {name:?} changed while it was read")));
        }
        if tar != *diff_id {
            return Err(OciVerifyError::DiffIdMismatch {
                path: path.join(name),
                number: i + 1,
                expected: *diff_id,
                actual: tar,
            });
        }
        layer_bytes += m.size;
        tar_bytes += tar_size;
    }
    // Every member is one the manifest names: a reader that lists the
    // archive's members sees no image the manifest does not describe.
    if let Some(stray) = members.keys().find(|m| **m != entry.config && !entry.layers.iter().any(|l| l == *m)) {
        return Err(OciVerifyError::UnreachedMember { path: path.to_path_buf(), member: stray.clone() });
    }
    let config_digest = config_member.digest;
    let layout_dir = path.with_file_name(
        path.file_name().map(|n| n.to_string_lossy().replace(".docker.tar", ".oci")).unwrap_or_default(),
    );
    let same_as_layout = if layout_dir.join("index.json").is_file() {
        let beside = verify_layout(&layout_dir)?;
        if beside.config_digest != config_digest {
            return Err(OciVerifyError::ArchiveNotLayout {
                path: path.to_path_buf(),
                layout_dir,
                archive: config_digest,
                layout: beside.config_digest,
            });
        }
        Some(layout_dir)
    } else {
        None
    };
    let sbom = check_pinned(path, config.config.labels.get(ANNOTATION).map(String::as_str))?;
    Ok(OciCheck {
        tag: entry.repo_tags.join(", "),
        config_digest,
        manifest_digest: None,
        layers: entry.layers.len(),
        layer_bytes,
        tar_bytes,
        sbom,
        same_as_layout,
    })
}
