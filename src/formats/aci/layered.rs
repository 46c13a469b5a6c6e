//! Layered ACIs: store paths as appc dependency images.
//!
//! A store path never changes once it exists, and its name carries the hash
//! of everything that made it, so it makes an ideal dependency image: the
//! same path gives the same image in every image that uses it, and a runtime
//! that already holds it fetches nothing. Two sources of dependencies:
//!
//! - `layered = true`: each store path of the closure (less what declared
//!   layers hold) becomes its own dependency ACI, built in the same result:
//!   named [`dependency_name`] (the prefix and the store path's base name),
//!   labelled only with `os` and `arch`, holding the store path under the
//!   store directory and nothing else. Its bytes depend only on the store
//!   path, the prefix, the os/arch and the compression.
//! - `layers = [ (mkLayer { ... }) ]`: a declared layer is its own
//!   derivation whose output is one dependency ACI of a closure
//!   ([`DeclaredLayer`]); images that use it link to it and leave its store
//!   paths out, so the layer is built once and cached like any derivation.
//! - `cacheLayers = true` (`cachedLayers` here): the per-path dependency
//!   images of `layered = true`, each already built by a derivation of its
//!   own ([`super::path_layer`]); the app links them in place of writing
//!   them, so its result is the same as without them, byte for byte.
//!
//! The app image then holds what no dependency holds: the merged top-level
//! tree, `/etc`, `/tmp`, mount targets and the store directory itself. Its
//! manifest lists the dependencies with `imageID` and `size` pinned: the
//! declared layers first, in the order given, then the per-path dependencies,
//! most popular first (a path before every path that references it). No two
//! dependencies hold the same file, so the depth-first rendering of appc
//! gives the same tree in any order; this one is stable and reads bottom-up.
//! See `docs/layers.md`.

use std::collections::BTreeMap;

use crate::image::plan::store::store_plan;
use crate::image::plan::StoreLayout;
use crate::image::sbom::Placement;
use crate::nix::store_path::StorePath;
use crate::result::ResultWriter;

use super::deps::{
    dependency_manifest, dependency_name, per_path_order, pin, prefix, read_declared, DeclaredLayer, LayeredError,
};
use super::{finish_app, prepare_app, write_dependency, Dependencies};
use crate::formats::{BuildError, Built, Input};

/// Builds the layered app `input` describes: its declared layers linked in,
/// then (with `layered = true`) one dependency image per remaining store
/// path, linked from its cached layer when there is one, else written here;
/// then the app without their store paths.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let (spec, store, closure) = (input.spec(), &input.store, &input.closure);
    if spec.thin && spec.layered {
        return Err(BuildError::ThinWithLayers { argument: "layered = true" });
    }
    if spec.thin && !spec.layers.is_empty() {
        return Err(BuildError::ThinWithLayers { argument: "layers" });
    }
    let layout = if spec.layered { StoreLayout::Layered } else { StoreLayout::Fat };
    let mut app = prepare_app(input, layout)?;

    // The declared layers, then (layered) one image per remaining store
    // path. Their store paths leave the image itself.
    let declared = read_declared("layers", &spec.layers, store, &app.os, &app.arch).map_err(Box::new)?;
    let mut deps = Dependencies {
        leave_out: declared.iter().flat_map(|l| l.store_paths.iter().cloned()).collect(),
        ..Dependencies::default()
    };
    for layer in &declared {
        for f in layer.artifact.files.all() {
            result.link(f, &layer.out.join(f))?;
        }
        deps.pins.push(pin(&layer.manifest, &layer.artifact.digests.image_id, layer.size));
        for p in &layer.store_paths {
            app.sbom.set_placement(p, Placement::DependencyAci { image: layer.artifact.name.clone() });
        }
        deps.artifacts.push(layer.artifact.clone());
    }
    if layout == StoreLayout::Layered {
        let prefix = prefix(spec.layer_prefix.as_deref(), &app.manifest.name, store).map_err(Box::new)?;
        let mut cached = cached_by_path(&spec.cached_layers, store, &app.os, &app.arch)?;
        for path in per_path_order(closure, &deps.leave_out) {
            let dm = dependency_manifest(dependency_name(&prefix, &path), &app.os, &app.arch);
            app.sbom.set_placement(&path, Placement::DependencyAci { image: dm.name.clone() });
            if let Some((index, layer)) = cached.remove(&path) {
                // The cached layer is the image this one would write: the
                // same manifest and the same store path, so the same bytes.
                if layer.manifest.to_canonical_json() != dm.to_canonical_json() {
                    return Err(Box::new(LayeredError::CachedName {
                        index,
                        name: layer.artifact.name.to_string(),
                        path: store.display(&path),
                        expected: dm.name.to_string(),
                    })
                    .into());
                }
                for f in layer.artifact.files.all() {
                    result.link(f, &layer.out.join(f))?;
                }
                deps.pins.push(pin(&dm, &layer.artifact.digests.image_id, layer.size));
                let mut artifact = layer.artifact;
                artifact.sign = app.sign;
                deps.artifacts.push(artifact);
                continue;
            }
            let plan = input.opts.store_checks(store_plan(store, closure, std::slice::from_ref(&path)));
            let (artifact, summary) =
                write_dependency(result, &dm, &plan, &app.archive_opts, app.sign, vec![store.display(&path)], None)?;
            deps.pins.push(pin(&dm, &summary.image_id, summary.compressed_size));
            deps.artifacts.push(artifact);
            deps.archives.push(summary);
        }
        if let Some((path, (index, layer))) = cached.into_iter().next() {
            return Err(Box::new(LayeredError::CachedUnused {
                index,
                name: layer.artifact.name.to_string(),
                path: store.display(&path),
            })
            .into());
        }
        deps.leave_out.extend(closure.paths().iter().map(|p| p.path.clone()));
    } else if spec.layer_prefix.is_some() {
        return Err(BuildError::PrefixWithoutLayered);
    } else if !spec.cached_layers.is_empty() {
        return Err(Box::new(LayeredError::CachedWithoutLayered).into());
    }
    finish_app(input, result, app, deps)
}

/// The cached per-path layers (`cachedLayers`), each with its index in the
/// list, by the one store path it holds.
fn cached_by_path(
    values: &[String],
    store: &crate::nix::store_path::StoreDir,
    os: &str,
    arch: &str,
) -> Result<BTreeMap<StorePath, (usize, DeclaredLayer)>, BuildError> {
    let mut out = BTreeMap::new();
    for (index, layer) in
        read_declared("cachedLayers", values, store, os, arch).map_err(Box::new)?.into_iter().enumerate()
    {
        let name = layer.artifact.name.to_string();
        let mut paths = layer.store_paths.iter();
        let (Some(path), None) = (paths.next(), paths.next()) else {
            return Err(Box::new(LayeredError::CachedShape { index, name, count: layer.store_paths.len() }).into());
        };
        if out.contains_key(path) {
            return Err(Box::new(LayeredError::CachedUnused { index, name, path: store.display(path) }).into());
        }
        out.insert(path.clone(), (index, layer));
    }
    Ok(out)
}
