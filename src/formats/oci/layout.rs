//! The OCI image layout directory: `oci-layout`, `index.json` (one manifest,
//! tagged with `org.opencontainers.image.ref.name`) and `blobs/sha256/<hex>`
//! for the layers, the config and the manifest.
//!
//! Layers are written by [`crate::archive::write_layer`], which computes the
//! `diff_id` (SHA-256 of the tar) and the blob digest (SHA-256 of what it
//! writes) while writing; each layer goes to a hidden temporary name and is
//! renamed to its digest. The config and the manifest are small JSON held in
//! memory and hashed there.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::archive::untrusted::{open_regular, read_bounded, UntrustedFileError};
use crate::archive::{self, ArchiveError, ArchiveOptions, Compression, LayerSummary};
use crate::image::plan::Plan;

use super::config::ConfigInput;
use super::types::{
    to_json, Descriptor, ImageConfig, ImageIndex, ImageManifest, LayoutMarker, Platform, ANNOTATION_REF_NAME,
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD,
    MEDIA_TYPE_MANIFEST,
};
use crate::archive::digest::{self, Sha256Digest};

/// Why a layout could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    File(#[from] UntrustedFileError),
    #[error(
        "{} is described as a {what} of {size} bytes; mkaci reads JSON blobs of at most {MAX_JSON_SIZE} \
         bytes (mkOCI writes a few KiB), so the layout is not one mkOCI built",
        path.display()
    )]
    JsonBlobTooLarge { path: PathBuf, what: &'static str, size: u64 },
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{} is not a valid {what}: {message}; rebuild the image with mkOCI", path.display())]
    Malformed { path: PathBuf, what: &'static str, message: String },
    #[error("{} lists no manifest tagged {tag:?} (tags: {found}); use one of those tags", path.display())]
    NoSuchTag { path: PathBuf, tag: String, found: String },
    #[error("{} is {actual} bytes where the manifest says {expected}; the layout is damaged, rebuild the image with mkOCI", path.display())]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },
    #[error("{} has {actual} (size {actual_size}) where {expected} (size {expected_size}) was expected; the layout is damaged, rebuild the image with mkOCI", path.display())]
    DigestMismatch { path: PathBuf, expected: Sha256Digest, expected_size: u64, actual: Sha256Digest, actual_size: u64 },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io { action, path: path.to_path_buf(), source }
}

/// One layer to write: where its bytes come from and what the history says
/// made it.
pub struct LayerInput {
    pub source: LayerSource,
    pub created_by: String,
}

/// Where a layer's bytes come from.
pub enum LayerSource {
    /// A plan, packed here.
    Plan(Plan),
    /// The finished blob of another layout (a declared layer's, in the store):
    /// checked against its descriptor, then linked to where it is, never
    /// packed, compressed or copied again.
    Blob(FinishedBlob),
}

/// A layer blob written by another build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedBlob {
    /// The blob's file.
    pub path: PathBuf,
    /// Its descriptor in the layout it comes from: media type, digest, size.
    pub descriptor: Descriptor,
    /// Its `diff_id` in that layout's config.
    pub diff_id: Sha256Digest,
}

impl LayerInput {
    /// A layer packed from `plan`.
    pub fn plan(plan: Plan, created_by: impl Into<String>) -> LayerInput {
        LayerInput { source: LayerSource::Plan(plan), created_by: created_by.into() }
    }
}

/// The media type of the layers a layout of `compression` packs.
pub fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => MEDIA_TYPE_LAYER_TAR,
        Compression::Zstd { .. } => MEDIA_TYPE_LAYER_ZSTD,
        // xz: `write_layer` refuses it.
        Compression::Gzip { .. } | Compression::Xz { .. } => MEDIA_TYPE_LAYER_GZIP,
    }
}

/// What [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSummary {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<LayerSummary>,
}

impl LayoutSummary {
    /// Bytes of all layer tars, uncompressed.
    pub fn tar_size(&self) -> u64 {
        self.layers.iter().map(|l| l.tar_size).sum()
    }

    /// Bytes of all layer blobs.
    pub fn compressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.compressed_size).sum()
    }

    /// Tar entries of all layers.
    pub fn entries(&self) -> u64 {
        self.layers.iter().map(|l| l.entries).sum()
    }
}

/// Writes the image layout into the new directory `dir`: the layers in
/// order (bottom first), the config, the manifest, `index.json` with the
/// manifest tagged `tag`, and `oci-layout`.
pub fn write_layout(
    dir: &Path,
    layers: &[LayerInput],
    input: &ConfigInput<'_>,
    tag: &str,
    opts: &ArchiveOptions,
) -> Result<LayoutSummary, LayoutError> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io("create", &blobs))?;
    let layer_type = layer_media_type(opts.compression);
    let mut summaries = Vec::with_capacity(layers.len());
    let mut descriptors = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let tmp = blobs.join(format!(".layer-{i}"));
        let (s, media_type) = match &layer.source {
            LayerSource::Plan(plan) => (archive::write_layer(plan, &tmp, opts)?, layer_type.to_string()),
            LayerSource::Blob(blob) => (link_blob(blob, &tmp)?, blob.descriptor.media_type.clone()),
        };
        let dest = blobs.join(digest::hex(&s.digest));
        std::fs::rename(&tmp, &dest).map_err(io("rename a layer to", &dest))?;
        descriptors.push(Descriptor {
            media_type,
            digest: s.digest,
            size: s.compressed_size,
            annotations: BTreeMap::new(),
            platform: None,
        });
        summaries.push(s);
    }
    let config: ImageConfig = input.image_config(
        summaries.iter().map(|s| s.diff_id).collect(),
        layers.iter().map(|l| l.created_by.clone()).collect(),
    );
    let config = write_blob(&blobs, MEDIA_TYPE_CONFIG, &to_json(&config))?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        config: config.clone(),
        layers: descriptors,
        annotations: input.manifest_annotations(),
    };
    let mut manifest = write_blob(&blobs, MEDIA_TYPE_MANIFEST, &to_json(&manifest))?;
    manifest.annotations.insert(ANNOTATION_REF_NAME.into(), tag.into());
    manifest.platform = Some(Platform {
        architecture: input.platform.architecture.clone(),
        os: input.platform.os.clone(),
        variant: input.platform.variant.clone(),
    });
    let index =
        ImageIndex { schema_version: 2, media_type: Some(MEDIA_TYPE_INDEX.into()), manifests: vec![manifest.clone()] };
    write_file(&dir.join("index.json"), &to_json(&index))?;
    write_file(&dir.join("oci-layout"), &to_json(&LayoutMarker::default()))?;
    Ok(LayoutSummary { manifest, config, layers: summaries })
}

/// Checks a finished layer blob against its descriptor (hashing it; never
/// more bytes than the descriptor's size are read) and makes `dest` a
/// symlink to it: the blob is a file of another store path, which the
/// result then references, so Nix keeps it as long as the result. The
/// summary has the blob's digest and size and its `diff_id`; the tar size
/// and entry count, which only packing knows, are 0.
pub(crate) fn link_blob(blob: &FinishedBlob, dest: &Path) -> Result<LayerSummary, LayoutError> {
    use sha2::Digest as _;
    use std::io::Read;
    let src = std::fs::File::open(&blob.path).map_err(io("open", &blob.path))?;
    let meta = src.metadata().map_err(io("read the size of", &blob.path))?;
    if !meta.is_file() {
        return Err(LayoutError::Malformed {
            path: blob.path.clone(),
            what: "layer blob",
            message: "it is not a regular file".into(),
        });
    }
    let expected = blob.descriptor.size;
    let mut reader = src.take(expected.saturating_add(1));
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut read: u64 = 0;
    loop {
        let n = reader.read(&mut buf).map_err(io("read", &blob.path))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        read += n as u64;
    }
    let actual = Sha256Digest::from_bytes(sha.finalize().into());
    if actual != blob.descriptor.digest || read != expected {
        return Err(LayoutError::DigestMismatch {
            path: blob.path.clone(),
            expected: blob.descriptor.digest,
            expected_size: expected,
            actual,
            actual_size: read,
        });
    }
    std::os::unix::fs::symlink(&blob.path, dest).map_err(io("create the link", dest))?;
    Ok(LayerSummary {
        diff_id: blob.diff_id,
        digest: actual,
        tar_size: 0,
        compressed_size: read,
        entries: 0,
        foreign_elf: Default::default(),
    })
}

fn write_blob(blobs: &Path, media_type: &str, bytes: &[u8]) -> Result<Descriptor, LayoutError> {
    let digest = digest::of_bytes(bytes);
    write_file(&blobs.join(digest::hex(&digest)), bytes)?;
    Ok(Descriptor {
        media_type: media_type.into(),
        digest,
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
        platform: None,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let mut f = std::fs::File::create(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))
}

/// A layout read back: the manifest tagged as asked, its config, and where
/// the blobs are. The JSON blobs' digests and sizes are checked; the layers'
/// are checked by whoever reads them ([`super::docker`]).
#[derive(Debug, Clone)]
pub struct ReadLayout {
    pub dir: PathBuf,
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfig,
    /// The config blob's bytes, as they are (their digest is the image ID).
    pub config_bytes: Vec<u8>,
}

impl ReadLayout {
    /// The file of a blob.
    pub fn blob_path(&self, d: &Sha256Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest::hex(d))
    }
}

/// Reads the layout at `dir` and the manifest tagged `tag` in its index.
pub fn read_layout(dir: &Path, tag: &str) -> Result<ReadLayout, LayoutError> {
    let (_, desc) = tagged(dir, tag)?;
    if desc.media_type == MEDIA_TYPE_INDEX {
        return Err(LayoutError::Malformed {
            path: dir.join("index.json"),
            what: "OCI image layout of one image",
            message: format!(
                "it tags {tag:?} as an image index of several platforms' images ({}); name one platform's \
                 image, or read it as an index",
                desc.digest
            ),
        });
    }
    read_image(dir, &desc)
}

/// Reads the image the manifest descriptor `desc` points at in the layout
/// `dir`: its manifest and its config, digests and sizes checked.
fn read_image(dir: &Path, desc: &Descriptor) -> Result<ReadLayout, LayoutError> {
    let (mpath, mbytes) = read_json_blob(dir, desc, "OCI image manifest")?;
    let manifest: ImageManifest = parse(&mbytes, &mpath, "OCI image manifest")?;
    let (cpath, config_bytes) = read_json_blob(dir, &manifest.config, "OCI image config")?;
    let config: ImageConfig = parse(&config_bytes, &cpath, "OCI image config")?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(LayoutError::Malformed {
            path: cpath,
            what: "OCI image config",
            message: format!(
                "it lists {} diff_ids for the manifest's {} layers",
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            ),
        });
    }
    Ok(ReadLayout { dir: dir.to_path_buf(), manifest_descriptor: desc.clone(), manifest, config, config_bytes })
}

/// A JSON blob of the layout `dir` (a manifest, a config, an image index):
/// a regular file of its descriptor's size, at most [`MAX_JSON_SIZE`]
/// bytes, whose SHA-256 is the descriptor's digest.
fn read_json_blob(dir: &Path, d: &Descriptor, what: &'static str) -> Result<(PathBuf, Vec<u8>), LayoutError> {
    let path = dir.join("blobs/sha256").join(digest::hex(&d.digest));
    if d.size > MAX_JSON_SIZE {
        return Err(LayoutError::JsonBlobTooLarge { path, what, size: d.size });
    }
    // The size first, from the file's metadata: nothing is read from a
    // blob that is not the size its descriptor gives.
    let (file, actual_size) = open_regular(&path)?;
    if actual_size != d.size {
        return Err(LayoutError::SizeMismatch { path, expected: d.size, actual: actual_size });
    }
    let mut bytes = Vec::with_capacity(d.size as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, d.size + 1), &mut bytes).map_err(io("read", &path))?;
    let actual = digest::of_bytes(&bytes);
    if actual != d.digest || bytes.len() as u64 != d.size {
        return Err(LayoutError::DigestMismatch {
            path,
            expected: d.digest,
            expected_size: d.size,
            actual,
            actual_size: bytes.len() as u64,
        });
    }
    Ok((path, bytes))
}

/// Most images an image index may list that mkaci reads: one per platform,
/// and `src/names.json` knows fewer than twenty.
pub const MAX_INDEX_MANIFESTS: usize = 64;

/// An image index layout read back ([`read_index_layout`]): the image index
/// tagged as asked, and each image it lists, read as [`read_layout`] reads
/// one, its `manifest_descriptor` the index's entry (with its `platform`).
#[derive(Debug, Clone)]
pub struct ReadIndexLayout {
    pub dir: PathBuf,
    /// The descriptor `index.json` tags: the image index blob.
    pub index_descriptor: Descriptor,
    pub index: ImageIndex,
    pub images: Vec<ReadLayout>,
}

/// What a layout's `index.json` tags: one image's manifest, or an image
/// index of several platforms' images.
#[derive(Debug, Clone)]
pub enum ReadAny {
    Image(Box<ReadLayout>),
    Index(Box<ReadIndexLayout>),
}

/// Reads the layout at `dir` and what its `index.json` tags `tag`: an
/// image manifest ([`read_layout`]) or an image index
/// ([`read_index_layout`]), told apart by the descriptor's media type.
pub fn read_any_layout(dir: &Path, tag: &str) -> Result<ReadAny, LayoutError> {
    let (index_path, desc) = tagged(dir, tag)?;
    if desc.media_type == MEDIA_TYPE_INDEX {
        read_index_at(dir, &index_path, desc).map(|r| ReadAny::Index(Box::new(r)))
    } else {
        read_image(dir, &desc).map(|r| ReadAny::Image(Box::new(r)))
    }
}

/// Reads the layout at `dir` whose `index.json` tags `tag` as an image
/// index (what `mkMultiArch` builds of OCI images): the index blob, then
/// every manifest it lists with its config (digests and sizes checked),
/// each manifest's `platform` compared with its config's `os`,
/// `architecture` and `variant`, and no platform listed twice. The layers'
/// digests are checked by whoever reads them.
pub fn read_index_layout(dir: &Path, tag: &str) -> Result<ReadIndexLayout, LayoutError> {
    let (index_path, desc) = tagged(dir, tag)?;
    read_index_at(dir, &index_path, desc)
}

fn read_index_at(dir: &Path, index_path: &Path, desc: Descriptor) -> Result<ReadIndexLayout, LayoutError> {
    if desc.media_type != MEDIA_TYPE_INDEX {
        return Err(LayoutError::Malformed {
            path: index_path.to_path_buf(),
            what: "OCI image index layout",
            message: format!(
                "it tags {} of media type {:?}, where an image index ({MEDIA_TYPE_INDEX}) was expected",
                desc.digest, desc.media_type
            ),
        });
    }
    let (ipath, ibytes) = read_json_blob(dir, &desc, "OCI image index")?;
    let index: ImageIndex = parse(&ibytes, &ipath, "OCI image index")?;
    let malformed = |message: String| LayoutError::Malformed { path: ipath.clone(), what: "OCI image index", message };
    if index.manifests.is_empty() || index.manifests.len() > MAX_INDEX_MANIFESTS {
        return Err(malformed(format!(
            "it lists {} images; an index of mkaci lists one to {MAX_INDEX_MANIFESTS}, one per platform",
            index.manifests.len()
        )));
    }
    let mut images: Vec<ReadLayout> = Vec::with_capacity(index.manifests.len());
    for (i, m) in index.manifests.iter().enumerate() {
        if m.media_type != MEDIA_TYPE_MANIFEST {
            return Err(malformed(format!(
                "manifests[{i}] is of media type {:?}; mkaci lists image manifests ({MEDIA_TYPE_MANIFEST}) only",
                m.media_type
            )));
        }
        let Some(p) = &m.platform else {
            return Err(malformed(format!(
                "manifests[{i}] ({}) has no platform; every image of an index names its platform",
                m.digest
            )));
        };
        if let Some(j) = index.manifests[..i].iter().position(|o| o.platform.as_ref() == Some(p)) {
            return Err(malformed(format!(
                "manifests[{j}] and manifests[{i}] are both for {}; an index lists one image per platform",
                platform_text(p)
            )));
        }
        let read = read_image(dir, m)?;
        let c = &read.config;
        let config_platform =
            Platform { os: c.os.clone(), architecture: c.architecture.clone(), variant: c.variant.clone() };
        if config_platform != *p {
            return Err(LayoutError::Malformed {
                path: read.blob_path(&read.manifest.config.digest),
                what: "OCI image config",
                message: format!(
                    "it is for {}, but the image index lists its manifest {} (manifests[{i}]) as {}; the index \
                     would hand runtimes of that platform another platform's image",
                    platform_text(&config_platform),
                    m.digest,
                    platform_text(p)
                ),
            });
        }
        images.push(read);
    }
    Ok(ReadIndexLayout { dir: dir.to_path_buf(), index_descriptor: desc, index, images })
}

/// `os/architecture[/variant]`, as `--platform` flags spell it.
pub fn platform_text(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The descriptor `index.json` of the layout `dir` tags `tag`.
fn tagged(dir: &Path, tag: &str) -> Result<(PathBuf, Descriptor), LayoutError> {
    let index_path = dir.join("index.json");
    let index: ImageIndex = parse(&read(&index_path)?, &index_path, "OCI image index")?;
    let Some(desc) =
        index.manifests.iter().find(|m| m.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
    else {
        let found: Vec<&str> =
            index.manifests.iter().filter_map(|m| m.annotations.get(ANNOTATION_REF_NAME)).map(String::as_str).collect();
        return Err(LayoutError::NoSuchTag { path: index_path, tag: tag.into(), found: found.join(", ") });
    };
    let desc = desc.clone();
    Ok((index_path, desc))
}

/// Largest JSON file of a layout that is read: `index.json`, a manifest or a
/// config (mkOCI writes a few KiB; a config lists one history entry per
/// layer).
pub const MAX_JSON_SIZE: u64 = 4 << 20;

/// A layout's JSON file, which must be a regular file of at most
/// [`MAX_JSON_SIZE`] bytes.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, LayoutError> {
    Ok(read_bounded(path, MAX_JSON_SIZE, "an OCI layout's JSON file")?)
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<T, LayoutError> {
    serde_json::from_slice(bytes).map_err(|e| LayoutError::Malformed {
        path: path.to_path_buf(),
        what,
        message: e.to_string(),
    })
}
