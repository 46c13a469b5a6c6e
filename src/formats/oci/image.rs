//! An OCI image layout (`format = "oci"`, what `mkOCI` asks for): the same
//! arguments, closure, manifest checks and rootfs plan as an ACI, written as
//! the declared layers' finished blobs ([`super::declared`]), then one layer
//! per remaining store path (grouped by popularity past `maxLayers`, which
//! counts the declared layers; see [`super::layers`]) and a top-level layer,
//! with the closure SBOM beside it. With `cacheLayers = true` the one-path
//! store layers come finished from their own derivations
//! ([`super::path_layer`]), and are linked in place of being packed.

use std::collections::BTreeSet;

use crate::image::contents;
use crate::image::plan::StoreLayout;
use crate::image::rootfs::{self, RootfsInput};
use crate::image::sbom::ClosureSbom;
use crate::image::spec::{from_spec, SpecContext};
use crate::result::ResultWriter;

use super::{config, declared, layers, write_into, LayoutOutput, OciSpecError};
use crate::formats::{BuildError, Built, Input};

/// Builds the OCI image layout `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (attrs, spec, store, closure) = (input.attrs, input.spec(), &input.store, &input.closure);
    let oci_spec = attrs.oci.as_ref().ok_or(OciSpecError::MissingOciAttrs)?;
    if spec.layered {
        return Err(BuildError::OciWithLayers { argument: "layered" });
    }
    if !spec.layers.is_empty() {
        return Err(BuildError::OciWithLayers { argument: "layers" });
    }
    if !spec.cached_layers.is_empty() {
        return Err(BuildError::OciWithLayers { argument: "aci.cachedLayers (an OCI image takes oci.cachedLayers)" });
    }
    config::check_spec(spec, oci_spec)?;
    let platform = crate::nix::names::oci_platform_of_system(attrs.image_system())
        .ok_or_else(|| OciSpecError::UnknownPlatform { system: attrs.image_system().to_string() })?;
    let resolved = from_spec(spec, &SpecContext { system: attrs.image_system(), store, thin_mounts: &[] })?;
    let compression = config::layer_compression(resolved.compression)?;
    let m = &resolved.manifest;
    config::check_manifest(m)?;
    let app = m.app.as_ref().expect("from_spec always gives an app");
    let mount_targets = rootfs::mount_targets(app, &BTreeSet::new());
    let extras = contents::extras(spec, store)?;
    let rootfs_input = RootfsInput {
        spec,
        store,
        closure,
        packages: &input.packages,
        layout: StoreLayout::Fat,
        mount_targets: &mount_targets,
        extras: &extras,
        os: m.label("os").expect("from_spec sets the os label"),
        arch: m.label("arch").expect("from_spec sets the arch label"),
    };
    let mut planned = rootfs::plan_and_check(&rootfs_input, app)?;
    let rootfs = input.opts.store_checks(std::mem::take(&mut planned.plan));

    let declared = declared::read("layers", &oci_spec.layers, store, platform).map_err(Box::new)?;
    let budget = declared::store_budget(oci_spec.max_layers, declared.layers.len() as u32)?;
    let mut cached =
        declared::read_cached(&oci_spec.cached_layers, store, platform, super::layout::layer_media_type(compression))
            .map_err(Box::new)?;
    let mut layer_inputs = declared.layers;
    layer_inputs.extend(layers::layer_inputs(store, closure, &rootfs, budget, &declared.store_paths, &mut cached));
    // Every cached layer listed is used: the layer plan Nix read lists
    // exactly the one-path layers, so one left over means another plan.
    if let Some((path, c)) = cached.into_iter().next() {
        return Err(Box::new(declared::DeclaredError::CachedUnused {
            index: c.index,
            name: c.name,
            path: store.display(&path),
        })
        .into());
    }
    // The closure SBOM, pinned by a config label.
    let closure_sbom = ClosureSbom::for_oci(store, closure, &input.packages, m, &spec.labels, platform);
    let labels = closure_sbom.pinned_labels(&spec.labels);
    let (summary, base) = write_into(
        result,
        LayoutOutput {
            manifest: m,
            platform,
            spec: oci_spec,
            layers: &layer_inputs,
            labels: &labels,
            compression,
            threads: input.opts.threads,
            sbom: true,
            store_paths: Vec::new(),
        },
    )?;
    result.write(&base.closure_sbom(), &closure_sbom.to_json(), 0o444)?;
    Ok(Built { archives: Vec::new(), layouts: vec![summary] })
}
