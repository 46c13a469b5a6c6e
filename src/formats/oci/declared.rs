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
    #[error("{field}[{index}] = {value:?} is not a store path: {error}; pass the result of nix2aci.mkLayer")]
    LayerPath { field: &'static str, index: usize, value: String, error: Box<StorePathError> },
    #[error("{field}[{index}] = {value:?} is not an OCI layer: {error}; pass the result of nix2aci.mkLayer (mkOCI takes its `oci`)")]
    NotALayer { field: &'static str, index: usize, value: String, error: Box<IndexError> },
    #[error("{field}[{index}] = {value:?} is not an OCI layer: it holds {what}; pass the result of nix2aci.mkLayer, whose `oci` holds one image layout of one layer")]
    LayerShape { field: &'static str, index: usize, value: String, what: String },
    #[error(
        "{field}[{index}] ({name}) is built for {layer}, this image for {image}; build the layer with the same system"
    )]
    Platform { field: &'static str, index: usize, name: String, layer: String, image: String },
    #[error("{field}[{index}] ({name}) lists the store path {value:?}, which is not a store path of {store}: {error}; rebuild the layer")]
    LayerStorePath {
        field: &'static str,
        index: usize,
        name: String,
        value: String,
        store: String,
        error: Box<StorePathError>,
    },
    #[error("{field}[{index}] ({name}): its layout cannot be read: {error}; rebuild the layer")]
    Layout { field: &'static str, index: usize, name: String, error: Box<LayoutError> },
    #[error("{field}[{index}] ({name}) has a layer of media type {media_type:?}; mkLayer writes one of {}; rebuild the layer", LAYER_MEDIA_TYPES.join(", "))]
    MediaType { field: &'static str, index: usize, name: String, media_type: String },
    #[error("{field}[{first}] and {field}[{second}] are the same layer {name}; list each layer once")]
    Duplicate { field: &'static str, first: usize, second: usize, name: String },
    #[error("maxLayers = {max_layers} leaves no room for the image's own layers beside {declared} declared layer(s): it needs at least one store layer and the top-level layer; raise maxLayers to at least {}", declared + 2)]
    NoRoom { max_layers: u32, declared: u32 },
    #[error("cachedLayers[{index}] ({name}) holds {count} store paths; a cached per-path layer holds exactly one: build the image with cacheLayers = true")]
    CachedShape { index: usize, name: String, count: usize },
    #[error("cachedLayers[{index}] ({name}) is compressed as {media_type}, this image's layers as {image}; the cached layer was built with another compression: build the image with cacheLayers = true, which makes the matching layer")]
    CachedCompression { index: usize, name: String, media_type: String, image: String },
    #[error("cachedLayers[{index}] ({name}) holds {path}, which gets no store layer of its own here (it is not in the closure, a declared layer holds it, maxLayers groups it with others, or another cached layer is listed for it); build the image with cacheLayers = true, which lists exactly the layers it uses")]
    CachedUnused { index: usize, name: String, path: String },
}

/// The declared layers of an image, read and checked.
#[derive(Default)]
pub struct Declared {
    /// The layers, bottom first, as [`super::layout::write_layout`] takes them.
    pub layers: Vec<LayerInput>,
    /// The store paths they hold, which leave the image's own layers.
    pub store_paths: BTreeSet<StorePath>,
    /// Each layer's image name, its finished blob and the store paths it lists.
    pub names: Vec<String>,
    pub blobs: Vec<FinishedBlob>,
    pub held: Vec<Vec<StorePath>>,
}

/// How many layers `maxLayers` leaves an image's own layers (its store
/// layers and the top-level layer) beside `declared` declared layers.
pub fn store_budget(max_layers: u32, declared: u32) -> Result<u32, Box<DeclaredError>> {
    if max_layers < declared.saturating_add(2) {
        return Err(Box::new(DeclaredError::NoRoom { max_layers, declared }));
    }
    Ok(max_layers - declared)
}

/// A cached per-path layer (`cacheLayers = true`), by the store path it holds.
pub struct Cached {
    /// Its index in `cachedLayers`, for errors.
    pub index: usize,
    pub name: String,
    pub blob: FinishedBlob,
}

/// Reads the cached per-path layers `values` (`cachedLayers`, the outputs of
/// `oci-path-layer` derivations) for an image of `platform` whose layers are
/// of `media_type`: each must hold exactly one store path.
pub fn read_cached(
    values: &[String],
    store: &StoreDir,
    platform: &OciPlatform,
    media_type: &str,
) -> Result<std::collections::BTreeMap<StorePath, Cached>, DeclaredError> {
    let read = read("cachedLayers", values, store, platform)?;
    let mut out = std::collections::BTreeMap::new();
    let mut seen: BTreeSet<StorePath> = BTreeSet::new();
    for (index, ((blob, name), held)) in read.blobs.into_iter().zip(read.names).zip(read.held).enumerate() {
        let [held] = <[StorePath; 1]>::try_from(held).map_err(|h| DeclaredError::CachedShape {
            index,
            name: name.clone(),
            count: h.len(),
        })?;
        if blob.descriptor.media_type != media_type {
            return Err(DeclaredError::CachedCompression {
                index,
                name,
                media_type: blob.descriptor.media_type.clone(),
                image: media_type.to_string(),
            });
        }
        if !seen.insert(held.clone()) {
            return Err(DeclaredError::CachedUnused { index, name, path: store.display(&held) });
        }
        out.insert(held, Cached { index, name, blob });
    }
    Ok(out)
}

/// Reads the declared layers `values` (the `layers` of the OCI arguments, as
/// store paths; `field` names them in errors: `layers`, or `cachedLayers`
/// for cached per-path layers) for an image of `platform`.
pub fn read(
    field: &'static str,
    values: &[String],
    store: &StoreDir,
    platform: &OciPlatform,
) -> Result<Declared, DeclaredError> {
    let mut out = Declared::default();
    let mut ids: Vec<crate::archive::digest::Sha256Digest> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        store.parse_path(value).map_err(|error| DeclaredError::LayerPath {
            field,
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let r = ResultDir::read(Path::new(value)).map_err(|error| DeclaredError::NotALayer {
            field,
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let shape = |what: String| DeclaredError::LayerShape { field, index, value: value.clone(), what };
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
                field,
                index,
                name,
                layer: format!("{}/{}", artifact.os, artifact.arch),
                image: format!("{}/{}", platform.os, platform.architecture),
            });
        }
        let layout = read_layout(&r.dir.join(&artifact.files.layout), &artifact.tag)
            .map_err(|error| DeclaredError::Layout { field, index, name: name.clone(), error: Box::new(error) })?;
        let ([descriptor], [diff_id]) = (layout.manifest.layers.as_slice(), layout.config.rootfs.diff_ids.as_slice())
        else {
            return Err(shape(format!("a layout of {} layers", layout.manifest.layers.len())));
        };
        if !LAYER_MEDIA_TYPES.contains(&descriptor.media_type.as_str()) {
            return Err(DeclaredError::MediaType { field, index, name, media_type: descriptor.media_type.clone() });
        }
        if let Some(first) = ids.iter().position(|d| *d == descriptor.digest) {
            return Err(DeclaredError::Duplicate { field, first, second: index, name });
        }
        ids.push(descriptor.digest);
        let mut held = Vec::new();
        for p in &artifact.store_paths {
            let sp = store.parse_path(p).map_err(|error| DeclaredError::LayerStorePath {
                field,
                index,
                name: name.clone(),
                value: p.clone(),
                store: store.as_str().into(),
                error: Box::new(error),
            })?;
            // Two layers may share a path (both hold glibc): the same bytes
            // in two layers render the same tree.
            out.store_paths.insert(sp.clone());
            held.push(sp);
        }
        let created_by = format!("mkaci: declared layer {name} ({} store paths)", artifact.store_paths.len());
        out.names.push(name);
        out.held.push(held);
        let blob = FinishedBlob {
            path: layout.blob_path(&descriptor.digest),
            descriptor: descriptor.clone(),
            diff_id: *diff_id,
        };
        out.blobs.push(blob.clone());
        out.layers.push(LayerInput { source: LayerSource::Blob(blob), created_by });
    }
    Ok(out)
}
