//! A cached per-path dependency ACI (`format = "path-layer"`, what
//! `cacheLayers = true` makes one derivation of for each store path): the
//! dependency image `layered = true` writes for one store path, byte for
//! byte, built on its own. Its derivation depends only on the store path,
//! the name prefix, the os and arch, and the compression, so every image on
//! every machine that holds the path shares it; the app links it
//! ([`super::layered`]). See `docs/layers.md`.

use crate::archive::ArchiveOptions;
use crate::image::manifest::AcIdentifier;
use crate::image::plan::store::store_plan;
use crate::image::spec::check_compression;
use crate::result::ResultWriter;

use super::deps::{dependency_manifest, dependency_name, LayeredError};
use super::write_dependency;
use crate::formats::{BuildError, Built, Input};

/// Builds the cached per-path dependency image `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (spec, store, closure) = (input.spec(), &input.store, &input.closure);
    let [path] = input.packages.as_slice() else {
        return Err(BuildError::PathLayer {
            what: format!("{} packages; it takes exactly one store path", input.packages.len()),
        });
    };
    if !closure.contains(path) {
        return Err(BuildError::PackageNotInClosure { index: 0, value: store.display(path) });
    }
    let (Some(os), Some(arch), Some(given)) = (&spec.os, &spec.arch, &spec.layer_prefix) else {
        return Err(BuildError::PathLayer {
            what: "no os, arch or layerPrefix; nix2aci's cacheLayers passes all three".into(),
        });
    };
    let prefix: AcIdentifier = given
        .parse()
        .map_err(|reason| Box::new(LayeredError::BadPrefix { value: given.clone(), reason: Box::new(reason) }))?;
    let m = dependency_manifest(dependency_name(&prefix, path), os, arch);
    let plan = input.opts.store_checks(store_plan(store, closure, std::slice::from_ref(path)));
    let opts = ArchiveOptions {
        compression: check_compression(spec)?,
        threads: input.opts.threads,
        machine: crate::image::elf::machine_for_arch(os, arch),
    };
    // Signing is the app's to decide: the app's index entry for this image
    // carries the app's `sign`.
    let (artifact, summary) = write_dependency(result, &m, &plan, &opts, false, vec![store.display(path)], None)?;
    result.add(artifact);
    Ok(Built { archives: vec![summary], layouts: Vec::new() })
}
