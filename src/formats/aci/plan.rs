//! The layer plan of a layered ACI (`format = "layer-plan"` without `oci`,
//! what `cacheLayers = true` reads at evaluation time): the store paths
//! that get their own per-path dependency image, in the app's order, i.e.
//! the closure less what the declared layers hold. Nix makes one cached
//! per-path layer ([`super::path_layer`]) of each, and the app links them
//! ([`super::layered`]). See `docs/layers.md`.

use crate::result::ResultWriter;

use super::deps::{per_path_order, read_declared};
use crate::formats::{write_layer_plan, BuildError, Built, Input};

/// Writes the layer plan of the layered ACI `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (spec, store, closure) = (input.spec(), &input.store, &input.closure);
    let (Some(os), Some(arch)) = (&spec.os, &spec.arch) else {
        return Err(BuildError::PathLayer {
            what: "no os or arch in its plan; nix2aci's cacheLayers passes both".into(),
        });
    };
    let declared = read_declared("layers", &spec.layers, store, os, arch).map_err(Box::new)?;
    let leave_out = declared.iter().flat_map(|l| l.store_paths.iter().cloned()).collect();
    write_layer_plan(result, store, &per_path_order(closure, &leave_out))
}
