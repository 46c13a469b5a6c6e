//! A declared layer for OCI images (`format = "oci-layer"`, what `mkLayer`'s
//! `oci` asks for): an image layout of one layer holding the whole closure
//! of the packages under the store directory, with no app. Images that list
//! it in `layers` link its blob as one of their bottom layers
//! ([`super::declared`]); as its own derivation it is built once and cached,
//! and its blob is never packed or compressed again. See `docs/oci.md`.

use crate::image::plan::store::store_plan;
use crate::image::spec::{layer_from_spec, SpecContext};
use crate::nix::store_path::StorePath;
use crate::result::ResultWriter;

use super::layout::LayerInput;
use super::{config, write_into, LayoutOutput, OciSpecError};
use crate::formats::{BuildError, Built, Input};

/// Builds the OCI declared layer `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (attrs, spec, store, closure) = (input.attrs, input.spec(), &input.store, &input.closure);
    let oci_spec = attrs.oci.as_ref().ok_or(OciSpecError::MissingOciAttrs)?;
    for (index, p) in input.packages.iter().enumerate() {
        if !closure.contains(p) {
            return Err(BuildError::PackageNotInClosure { index, value: store.display(p) });
        }
    }
    let platform = crate::nix::names::oci_platform_of_system(attrs.image_system())
        .ok_or_else(|| OciSpecError::UnknownPlatform { system: attrs.image_system().to_string() })?;
    let resolved = layer_from_spec(spec, &SpecContext { system: attrs.image_system(), store, thin_mounts: &[] })?;
    let compression = config::layer_compression(resolved.compression)?;
    let m = &resolved.manifest;
    let paths: Vec<StorePath> = closure.paths().iter().map(|p| p.path.clone()).collect();
    let plan = input.opts.store_checks(store_plan(store, closure, &paths));
    let mut listed: Vec<String> = paths.iter().map(|p| store.display(p)).collect();
    listed.sort();

    let layers = [LayerInput::plan(plan, format!("mkaci: declared layer {} ({} store paths)", m.name, paths.len()))];
    let (summary, _) = write_into(
        result,
        LayoutOutput {
            manifest: m,
            platform,
            spec: oci_spec,
            layers: &layers,
            labels: &spec.labels,
            compression,
            threads: input.opts.threads,
            sbom: false,
            store_paths: listed,
        },
    )?;
    Ok(Built { archives: Vec::new(), layouts: vec![summary] })
}
