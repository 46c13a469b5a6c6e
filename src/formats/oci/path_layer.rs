//! A cached per-path OCI layer (`format = "oci-path-layer"`, what
//! `cacheLayers = true` makes one derivation of for each store path that
//! gets a layer of its own): an image layout of one layer holding exactly
//! that store path under the store directory, the layer an image would pack
//! for it, byte for byte. Its derivation depends only on the store path, the
//! platform and the compression, so every image on every machine that holds
//! the path shares it; images link its blob ([`super::image`]). See
//! `docs/oci.md`.

use crate::image::manifest::{AcIdentifier, AcVersion, ImageManifest, ImageManifestKind};
use crate::image::plan::store::store_plan;
use crate::image::spec::check_compression;
use crate::result::ResultWriter;

use super::layout::LayerInput;
use super::{config, layers, write_into, LayoutOutput, OciSpecError};
use crate::formats::{BuildError, Built, Input};

/// Builds the cached per-path OCI layer `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (attrs, spec, store, closure) = (input.attrs, input.spec(), &input.store, &input.closure);
    let oci_spec = attrs.oci.as_ref().ok_or(OciSpecError::MissingOciAttrs)?;
    let [path] = input.packages.as_slice() else {
        return Err(BuildError::PathLayer {
            what: format!("{} packages; it takes exactly one store path", input.packages.len()),
        });
    };
    if !closure.contains(path) {
        return Err(BuildError::PackageNotInClosure { index: 0, value: store.display(path) });
    }
    let platform = crate::nix::names::oci_platform_of_system(attrs.image_system())
        .ok_or_else(|| OciSpecError::UnknownPlatform { system: attrs.image_system().to_string() })?;
    let compression = config::layer_compression(check_compression(spec)?)?;
    // The layout's own image name: the store path under the store
    // directory (`nix/store/<hash>-<name>`, mapped to an AC Identifier).
    let name = AcIdentifier::map_from(&format!("{}/{}", store.relative(), path.base_name()))
        .expect("a store directory and a store hash always map to a name");
    let os_arch = crate::nix::names::os_arch_of_system(attrs.image_system());
    let label = |n: &str, v: &str| crate::image::manifest::Label {
        name: n.parse().expect("os and arch are AC Identifiers"),
        value: v.to_string(),
    };
    let m = ImageManifest {
        ac_kind: ImageManifestKind,
        ac_version: AcVersion::current(),
        name,
        labels: os_arch.map(|(os, arch)| vec![label("os", os), label("arch", arch)]).unwrap_or_default(),
        app: None,
        dependencies: Vec::new(),
        path_whitelist: Vec::new(),
        annotations: Vec::new(),
    };
    let plan = input.opts.store_checks(store_plan(store, closure, std::slice::from_ref(path)));
    let group = crate::image::plan::store::StoreGroup { paths: vec![path.clone()], popularity: 1 };
    let layers = [LayerInput::plan(plan, layers::describe(store, &group))];
    let (summary, _) = write_into(
        result,
        LayoutOutput {
            manifest: &m,
            platform,
            spec: oci_spec,
            layers: &layers,
            labels: &spec.labels,
            compression,
            threads: input.opts.threads,
            sbom: false,
            store_paths: vec![store.display(path)],
        },
    )?;
    Ok(Built { archives: Vec::new(), layouts: vec![summary] })
}
