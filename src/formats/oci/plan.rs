//! The layer plan of an OCI image (`format = "layer-plan"` with `oci`, what
//! `cacheLayers = true` reads at evaluation time): the store paths that get
//! a store layer of their own, in the image's order. They are the image's
//! one-path store layers: the most popular paths, up to `maxLayers` less
//! the declared layers and the top-level layer ([`super::layers`]); the
//! rest share the image's last store layer, which the image packs itself.
//! Nix makes one cached layer ([`super::path_layer`]) of each path listed,
//! and the image links their blobs ([`super::image`]). See `docs/oci.md`.

use crate::image::plan::store::group_by_popularity_without;
use crate::nix::store_path::StorePath;
use crate::result::ResultWriter;

use super::{declared, OciSpecError};
use crate::formats::{write_layer_plan, BuildError, Built, Input};

/// Writes the layer plan of the OCI image `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (attrs, store, closure) = (input.attrs, &input.store, &input.closure);
    let oci_spec = attrs.oci.as_ref().ok_or(OciSpecError::MissingOciAttrs)?;
    let platform = crate::nix::names::oci_platform_of_system(attrs.image_system())
        .ok_or_else(|| OciSpecError::UnknownPlatform { system: attrs.image_system().to_string() })?;
    let declared = declared::read("layers", &oci_spec.layers, store, platform).map_err(Box::new)?;
    let count = declared.layers.len() as u32;
    let budget = declared::store_budget(oci_spec.max_layers, count)?;
    let singles: Vec<StorePath> = group_by_popularity_without(closure, budget, &declared.store_paths)
        .into_iter()
        .filter_map(|g| match <[StorePath; 1]>::try_from(g.paths) {
            Ok([one]) => Some(one),
            Err(_) => None,
        })
        .collect();
    write_layer_plan(result, store, &singles)
}
