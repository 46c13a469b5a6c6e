//! One name, several platforms, as OCI (`format = "oci-multi-arch"`, what
//! `mkMultiArch` asks for when its images are mkOCI results): one image
//! layout, `<name>-<version>.oci`, whose `index.json` tags (with the images'
//! tag) an image index listing each platform's manifest with its
//! `platform`. The images are the results of their own builds: every blob is
//! read from the image's layout, its digest checked, and linked there (never
//! packed or compressed again), once however many images share it. Each
//! image's closure SBOM is linked beside the layout.
//!
//! The image index: <https://github.com/opencontainers/image-spec/blob/main/image-index.md>.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::archive::digest;
use crate::result::{
    ArtifactKind, FileName, ImageBase, IndexError, OciDigests, OciIndexArtifact, OciIndexDigests, OciIndexFiles,
    OciIndexPlatform, ResultDir, ResultWriter,
};

use super::layout::{self, platform_text, FinishedBlob, LayoutError};
use super::types::{to_json, Descriptor, ImageIndex, LayoutMarker, Platform, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX};
use crate::formats::{BuildError, Built, Input};

/// Why the images cannot go into one image index.
#[derive(Debug, thiserror::Error)]
pub enum OciIndexError {
    #[error("images[{index}] = {value:?} is not an image result: {error}; pass images built with nix2aci.mkOCI")]
    NotAResult { index: usize, value: String, error: Box<IndexError> },
    #[error("images[{index}] = {value:?} holds {what}; an OCI image index gathers mkOCI results of one image each (ACIs and OCI images do not mix: pass all mkOCI or all mkACI images)")]
    Shape { index: usize, value: String, what: String },
    #[error("images[{index}] is {name} {version}, images[0] is {first_name} {first_version}; one name and version serve every platform")]
    NameVersion { index: usize, name: String, version: String, first_name: String, first_version: String },
    #[error("images[{index}] is tagged {tag:?}, images[0] {first:?}; the index has one tag, so give the images the same `tag`")]
    Tag { index: usize, tag: String, first: String },
    #[error(
        "images[{first}] and images[{second}] are both for {platform}; give each platform one image (targetSystem)"
    )]
    SamePlatform { first: usize, second: usize, platform: String },
    #[error("images[{index}] = {value:?}: {error}")]
    Layout { index: usize, value: String, error: Box<LayoutError> },
    #[error("images[{index}] = {value:?}: the result lists {listed} for the image, its layout has {found}; rebuild the image")]
    Mismatch { index: usize, value: String, listed: String, found: String },
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

/// One platform's image, read from its result.
struct Image {
    read: layout::ReadLayout,
    descriptor: Descriptor,
    platform: Platform,
    /// Where the image's closure SBOM is, and its name.
    sbom: Option<(FileName, PathBuf)>,
}

/// Gathers the mkOCI results `input`'s packages are into one image index
/// layout in `result`.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let err = |e: OciIndexError| BuildError::OciIndex(Box::new(e));
    let mut images: Vec<Image> = Vec::with_capacity(input.packages.len());
    let mut first: Option<(crate::image::manifest::AcIdentifier, Option<String>, String)> = None;
    let mut platforms: BTreeMap<String, usize> = BTreeMap::new();
    for (index, package) in input.packages.iter().enumerate() {
        let value = input.store.display(package);
        let r = ResultDir::read(Path::new(&value))
            .map_err(|error| err(OciIndexError::NotAResult { index, value: value.clone(), error: Box::new(error) }))?;
        let shape = |what: String| err(OciIndexError::Shape { index, value: value.clone(), what });
        if !r.index.artifacts.is_empty() {
            return Err(shape(format!("{} ACI(s)", r.index.artifacts.len())));
        }
        if !r.index.oci_indexes.is_empty() {
            return Err(shape("an OCI image index already".into()));
        }
        let [artifact] = r.index.oci_layouts.as_slice() else {
            return Err(shape(format!("{} OCI image layouts", r.index.oci_layouts.len())));
        };
        if !artifact.store_paths.is_empty() {
            return Err(shape("a declared layer (mkLayer), not an image".into()));
        }
        let version = || artifact.version.clone().unwrap_or_else(|| "(no version)".into());
        match &first {
            None => first = Some((artifact.name.clone(), artifact.version.clone(), artifact.tag.clone())),
            Some((name, v, _)) if *name != artifact.name || *v != artifact.version => {
                return Err(err(OciIndexError::NameVersion {
                    index,
                    name: artifact.name.to_string(),
                    version: version(),
                    first_name: name.to_string(),
                    first_version: v.clone().unwrap_or_else(|| "(no version)".into()),
                }))
            }
            Some((_, _, tag)) if *tag != artifact.tag => {
                return Err(err(OciIndexError::Tag { index, tag: artifact.tag.clone(), first: tag.clone() }))
            }
            Some(_) => {}
        }
        let dir = r.dir.join(&artifact.files.layout);
        let read = layout::read_layout(&dir, &artifact.tag)
            .map_err(|e| err(OciIndexError::Layout { index, value: value.clone(), error: Box::new(e) }))?;
        let c = &read.config;
        let platform = Platform { os: c.os.clone(), architecture: c.architecture.clone(), variant: c.variant.clone() };
        let mismatch =
            |listed: String, found: String| err(OciIndexError::Mismatch { index, value: value.clone(), listed, found });
        if (artifact.os.as_str(), artifact.arch.as_str()) != (c.os.as_str(), c.architecture.as_str()) {
            return Err(mismatch(format!("{}/{}", artifact.os, artifact.arch), platform_text(&platform)));
        }
        if read.manifest_descriptor.digest != artifact.digests.manifest {
            return Err(mismatch(
                format!("the manifest {}", artifact.digests.manifest),
                read.manifest_descriptor.digest.to_string(),
            ));
        }
        let key = platform_text(&platform);
        if let Some(&earlier) = platforms.get(&key) {
            return Err(err(OciIndexError::SamePlatform { first: earlier, second: index, platform: key }));
        }
        platforms.insert(key, index);
        let descriptor = Descriptor {
            media_type: read.manifest_descriptor.media_type.clone(),
            digest: read.manifest_descriptor.digest,
            size: read.manifest_descriptor.size,
            annotations: BTreeMap::new(),
            platform: Some(platform.clone()),
        };
        let sbom = artifact.files.sbom.clone().map(|f| {
            let path = r.dir.join(&f);
            (f, path)
        });
        images.push(Image { read, descriptor, platform, sbom });
    }
    let (name, version, tag) = first.expect("Input::parse refuses an empty package list");

    let base = ImageBase::multi_arch(&name, version.as_deref());
    let dir_name = base.oci_layout();
    let dir = result.path(&dir_name);
    let blobs = dir.join("blobs/sha256");
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| err(OciIndexError::Io { action, path, source })
    };
    std::fs::create_dir_all(&blobs).map_err(io("create", &blobs))?;
    // Every blob once: the manifests and configs (checked as they were
    // read), the layers (checked here, as they are linked).
    let mut linked: BTreeSet<String> = BTreeSet::new();
    for (index, image) in images.iter().enumerate() {
        let layout_err = |e: LayoutError| {
            err(OciIndexError::Layout { index, value: image.read.dir.display().to_string(), error: Box::new(e) })
        };
        let json_blobs = [&image.read.manifest_descriptor, &image.read.manifest.config];
        for d in json_blobs.into_iter().chain(&image.read.manifest.layers) {
            if !linked.insert(d.digest.to_string()) {
                continue;
            }
            // To the file itself: a blob that is a link already (a declared
            // layer's) is linked to where it points.
            let source = image.read.blob_path(&d.digest);
            let target = std::fs::canonicalize(&source).map_err(io("resolve", &source))?;
            let dest = blobs.join(digest::hex(&d.digest));
            let blob = FinishedBlob { path: target, descriptor: d.clone(), diff_id: d.digest };
            layout::link_blob(&blob, &dest).map_err(layout_err)?;
        }
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests: images.iter().map(|i| i.descriptor.clone()).collect(),
    };
    let index_bytes = to_json(&index);
    let index_digest = digest::of_bytes(&index_bytes);
    write(&blobs.join(digest::hex(&index_digest)), &index_bytes).map_err(|(p, e)| io("write", &p)(e))?;
    let top = ImageIndex {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests: vec![Descriptor {
            media_type: MEDIA_TYPE_INDEX.into(),
            digest: index_digest,
            size: index_bytes.len() as u64,
            annotations: [(ANNOTATION_REF_NAME.to_string(), tag.clone())].into(),
            platform: None,
        }],
    };
    write(&dir.join("index.json"), &to_json(&top)).map_err(|(p, e)| io("write", &p)(e))?;
    write(&dir.join("oci-layout"), &to_json(&LayoutMarker::default())).map_err(|(p, e)| io("write", &p)(e))?;

    let mut entries = Vec::with_capacity(images.len());
    for image in &images {
        let sbom = match &image.sbom {
            Some((f, path)) => {
                let target = std::fs::canonicalize(path).map_err(io("resolve", path))?;
                result.link(f, &target)?;
                Some(f.clone())
            }
            None => None,
        };
        entries.push(OciIndexPlatform {
            os: image.platform.os.clone(),
            arch: image.platform.architecture.clone(),
            variant: image.platform.variant.clone(),
            layers: image.read.manifest.layers.len() as u32,
            digests: OciDigests { manifest: image.descriptor.digest, config: image.read.manifest.config.digest },
            sbom,
        });
    }
    result.add_oci_index(OciIndexArtifact {
        kind: ArtifactKind::OciIndex,
        name,
        version,
        tag,
        files: OciIndexFiles { layout: dir_name },
        digests: OciIndexDigests { index: index_digest },
        platforms: entries,
    });
    Ok(Built::default())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    std::fs::write(path, bytes).map_err(|e| (path.to_path_buf(), e))
}
