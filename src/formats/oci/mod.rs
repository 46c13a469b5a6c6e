//! OCI images from the same plan as an ACI: building one ([`image`]), the
//! typed OCI structures (image config, manifest, index, descriptors;
//! [`types`]), the mapping from the mkACI arguments to the image config
//! ([`config`]), one layer per store path with popularity grouping
//! ([`layers`]), the cached one-path layers of `cacheLayers = true`
//! ([`path_layer`]) and the plan Nix reads to make them ([`plan`]), the
//! image layout directory ([`layout`]), the docker-archive tarball that
//! publishing makes from it ([`docker`]), and the image index of one name
//! for several platforms ([`index`], what `mkMultiArch` builds of mkOCI
//! images).
//! `mkaci verify` reads both back (`crate::check::oci`).
//!
//! The specifications:
//! - image layout: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>
//! - image index: <https://github.com/opencontainers/image-spec/blob/main/image-index.md>
//! - image manifest: <https://github.com/opencontainers/image-spec/blob/main/manifest.md>
//! - image config: <https://github.com/opencontainers/image-spec/blob/main/config.md>
//! - layers: <https://github.com/opencontainers/image-spec/blob/main/layer.md>
//!
//! `docs/oci.md` describes the mapping and the layering for users.

pub mod config;
pub mod declared;
pub mod docker;
pub mod image;
pub mod index;
pub mod layer;
pub mod layers;
pub mod layout;
pub mod path_layer;
pub mod plan;
pub mod types;

pub use config::{ConfigInput, OciSpecError};
pub use image::build;
pub use layout::{
    read_any_layout, read_index_layout, read_layout, write_layout, LayoutError, LayoutSummary, ReadAny,
    ReadIndexLayout, ReadLayout,
};
pub use types::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};

/// `maxLayers` when the user gives none: overlay filesystems limit the
/// depth of the layer stack, and 100 stays well inside every engine's limit.
pub const DEFAULT_MAX_LAYERS: u32 = 100;

/// What [`write_into`] writes: one image layout of the image `manifest`
/// describes, for `platform`, and its index entry.
pub struct LayoutOutput<'a> {
    pub manifest: &'a crate::image::manifest::ImageManifest,
    pub platform: &'a crate::nix::names::OciPlatform,
    pub spec: &'a crate::nix::attrs::OciSpec,
    pub layers: &'a [layout::LayerInput],
    /// The config's labels.
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub compression: crate::archive::Compression,
    pub threads: usize,
    /// The closure SBOM beside the layout, written by the caller.
    pub sbom: bool,
    /// A declared layer's store paths; empty for an application image.
    pub store_paths: Vec<String>,
}

/// Writes the layout `out` describes into `result` under the name its image
/// name, version and platform give (which must be the one Nix computed),
/// and adds its index entry. Returns the layout's summary and its base name.
pub fn write_into(
    result: &mut crate::result::ResultWriter,
    out: LayoutOutput<'_>,
) -> Result<(LayoutSummary, crate::result::ImageBase), crate::formats::BuildError> {
    use crate::result::{ArtifactKind, ImageBase, OciArtifact, OciDigests, OciFiles};
    let m = out.manifest;
    let base = ImageBase::new(&m.name, m.label("version"), &out.platform.os, &out.platform.architecture);
    let dir_name = base.oci_layout();
    if let Some(nix) = &out.spec.dir_name {
        if nix != dir_name.as_str() {
            return Err(OciSpecError::DirNameMismatch { nix: nix.clone(), ours: dir_name.to_string() }.into());
        }
    }
    let machine = crate::image::elf::machine_of_image(m);
    let summary = write_layout(
        &result.path(&dir_name),
        out.layers,
        &ConfigInput { manifest: m, labels: out.labels, platform: out.platform },
        &out.spec.tag,
        &crate::archive::ArchiveOptions { compression: out.compression, threads: out.threads, machine },
    )?;
    result.add_oci(OciArtifact {
        kind: ArtifactKind::OciLayout,
        name: m.name.clone(),
        version: m.label("version").map(str::to_string),
        os: out.platform.os.clone(),
        arch: out.platform.architecture.clone(),
        tag: out.spec.tag.clone(),
        layers: summary.layers.len() as u32,
        files: OciFiles { layout: dir_name, sbom: out.sbom.then(|| base.closure_sbom()) },
        digests: OciDigests { manifest: summary.manifest.digest, config: summary.config.digest },
        store_paths: out.store_paths,
    });
    Ok((summary, base))
}
