//! Declared layers of an OCI image: the outputs of `mkLayer`'s `oci`, each an
//! image layout of one layer that holds a closure (what
//! [`super::layer`] builds). An image that lists them takes their finished
//! blobs as its bottom layers, in the order given, and leaves their store
//! paths out of its own layers; the layer is built once, as its own
//! derivation, and never packed or compressed again.

use std::collections::BTreeSet;
use std::path::Path;

use crate::nix::names::OciPlatform;
use crate::nix::store_path::{StoreDir, StorePath, StorePathError};
use crate::result::{IndexError, ResultDir};

use super::layout::{read_layout, FinishedBlob, LayerInput, LayerSource, LayoutError};
use super::types::LAYER_MEDIA_TYPES;

/// Why a declared layer of an OCI image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    #[error("layers[{index}] = {value:?} is not a store path: {error}; pass the result of nix2aci.mkLayer")]
    LayerPath { index: usize, value: String, error: Box<StorePathError> },
    #[error("layers[{index}] = {value:?} is not an OCI layer: {error}; pass the result of nix2aci.mkLayer (mkOCI takes its `oci`)")]
    NotALayer { index: usize, value: String, error: Box<IndexError> },
    #[error("layers[{index}] = {value:?} is not an OCI layer: it holds {what}; pass the result of nix2aci.mkLayer, whose `oci` holds one image layout of one layer")]
    LayerShape { index: usize, value: String, what: String },
    #[error(
        "layers[{index}] ({name}) is built for {layer}, this image for {image}; build the layer with the same system"
    )]
    Platform { index: usize, name: String, layer: String, image: String },
    #[error("layers[{index}] ({name}) lists the store path {value:?}, which is not a store path of {store}: {error}; rebuild the layer")]
    LayerStorePath { index: usize, name: String, value: String, store: String, error: Box<StorePathError> },
    #[error("layers[{index}] ({name}): its layout cannot be read: {error}; rebuild the layer")]
    Layout { index: usize, name: String, error: Box<LayoutError> },
    #[error("layers[{index}] ({name}) has a layer of media type {media_type:?}; mkLayer writes one of {}; rebuild the layer", LAYER_MEDIA_TYPES.join(", "))]
    MediaType { index: usize, name: String, media_type: String },
    #[error("layers[{first}] and layers[{second}] are the same layer {name}; list each layer once")]
    Duplicate { first: usize, second: usize, name: String },
    #[error("maxLayers = {max_layers} leaves no room for the image's own layers beside {declared} declared layer(s): it needs at least one store layer and the top-level layer; raise maxLayers to at least {}", declared + 2)]
    NoRoom { max_layers: u32, declared: u32 },
}

/// The declared layers of an image, read and checked.
#[derive(Default)]
pub struct Declared {
    /// The layers, bottom first, as [`super::layout::write_layout`] takes them.
    pub layers: Vec<LayerInput>,
    /// The store paths they hold, which leave the image's own layers.
    pub store_paths: BTreeSet<StorePath>,
}

/// Reads the declared layers `values` (the `layers` of the OCI arguments, as
/// store paths) for an image of `platform`.
pub fn read(values: &[String], store: &StoreDir, platform: &OciPlatform) -> Result<Declared, DeclaredError> {
    let mut out = Declared::default();
    let mut ids: Vec<crate::archive::digest::Sha256Digest> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        store.parse_path(value).map_err(|error| DeclaredError::LayerPath {
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let r = ResultDir::read(Path::new(value)).map_err(|error| DeclaredError::NotALayer {
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let shape = |what: String| DeclaredError::LayerShape { index, value: value.clone(), what };
        if !r.index.artifacts.is_empty() {
            return Err(shape(format!("{} ACI(s)", r.index.artifacts.len())));
        }
        let [artifact] = r.index.oci_layouts.as_slice() else {
            return Err(shape(format!("{} OCI image layouts", r.index.oci_layouts.len())));
        };
        let name = artifact.name.to_string();
        if artifact.store_paths.is_empty() || artifact.layers != 1 {
            return Err(shape(format!("an OCI image of {} layer(s) and no store paths listed", artifact.layers)));
        }
        if artifact.os != platform.os || artifact.arch != platform.architecture {
            return Err(DeclaredError::Platform {
                index,
                name,
                layer: format!("{}/{}", artifact.os, artifact.arch),
                image: format!("{}/{}", platform.os, platform.architecture),
            });
        }
        let layout = read_layout(&r.dir.join(&artifact.files.layout), &artifact.tag)
            .map_err(|error| DeclaredError::Layout { index, name: name.clone(), error: Box::new(error) })?;
        let ([descriptor], [diff_id]) = (layout.manifest.layers.as_slice(), layout.config.rootfs.diff_ids.as_slice())
        else {
            return Err(shape(format!("a layout of {} layers", layout.manifest.layers.len())));
        };
        if !LAYER_MEDIA_TYPES.contains(&descriptor.media_type.as_str()) {
            return Err(DeclaredError::MediaType { index, name, media_type: descriptor.media_type.clone() });
        }
        if let Some(first) = ids.iter().position(|d| *d == descriptor.digest) {
            return Err(DeclaredError::Duplicate { first, second: index, name });
        }
        ids.push(descriptor.digest);
        for p in &artifact.store_paths {
            let sp = store.parse_path(p).map_err(|error| DeclaredError::LayerStorePath {
                index,
                name: name.clone(),
                value: p.clone(),
                store: store.as_str().into(),
                error: Box::new(error),
            })?;
            // Two layers may share a path (both hold glibc): the same bytes
            // in two layers render the same tree.
            out.store_paths.insert(sp);
        }
        let created_by = format!("mkaci: declared layer {name} ({} store paths)", artifact.store_paths.len());
        out.layers.push(LayerInput {
            source: LayerSource::Blob(FinishedBlob {
                path: layout.blob_path(&descriptor.digest),
                descriptor: descriptor.clone(),
                diff_id: *diff_id,
            }),
            created_by,
        });
    }
    Ok(out)
}
