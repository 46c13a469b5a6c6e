//! A declared layer (`format = "layer"`, what `mkLayer` asks for): one
//! dependency ACI holding the whole closure of the packages, with no app and
//! its own closure SBOM. Images that list it in `layers` link to it and
//! leave its store paths out ([`super::layered`]); as its own derivation it
//! is built once and cached. See `docs/layers.md`.

use crate::image::plan::store::store_plan;
use crate::image::sbom::{ClosureSbom, ImageKind, Placement, SbomImage};
use crate::image::spec::{layer_from_spec, SpecContext};
use crate::nix::store_path::StorePath;
use crate::result::ResultWriter;

use super::write_dependency;
use crate::archive::ArchiveOptions;
use crate::formats::{BuildError, Built, Input};

/// Builds the declared layer `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (spec, store, closure) = (input.spec(), &input.store, &input.closure);
    for (index, p) in input.packages.iter().enumerate() {
        if !closure.contains(p) {
            return Err(BuildError::PackageNotInClosure { index, value: store.display(p) });
        }
    }
    let resolved = layer_from_spec(spec, &SpecContext { system: input.attrs.image_system(), store, thin_mounts: &[] })?;
    let paths: Vec<StorePath> = closure.paths().iter().map(|p| p.path.clone()).collect();
    let plan = input.opts.store_checks(store_plan(store, closure, &paths));
    let mut listed: Vec<String> = paths.iter().map(|p| store.display(p)).collect();
    listed.sort();
    // Its own closure SBOM, every path inside it, pinned by its manifest.
    let mut manifest = resolved.manifest;
    let sbom = ClosureSbom::new(
        SbomImage::of_manifest(ImageKind::DependencyAci, &manifest),
        store,
        closure,
        &input.packages,
        |_| Placement::Contents,
    );
    sbom.pin_manifest(&mut manifest);
    let archive_opts = ArchiveOptions {
        compression: resolved.compression,
        threads: input.opts.threads,
        machine: crate::image::elf::machine_of_image(&manifest),
    };
    let (artifact, summary) =
        write_dependency(result, &manifest, &plan, &archive_opts, resolved.sign, listed, Some(&sbom))?;
    result.add(artifact);
    Ok(Built { archives: vec![summary], layouts: Vec::new() })
}
