//! The layers of an OCI image: one per store path of the closure, the most
//! popular first, up to `maxLayers`; past that, the least popular paths
//! share one layer ([`group_by_popularity`], whose docs give the rule). The
//! last layer is the top-level tree: the rootfs plan without the store paths
//! (`/etc`, `/tmp`, mount targets, the packages' merged trees, the store
//! directory itself).

use std::collections::{BTreeMap, BTreeSet};

use crate::image::plan::store::{group_by_popularity_without, group_plan, without_store, StoreGroup};
use crate::image::plan::Plan;
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath};

use super::declared::Cached;
use super::layout::{LayerInput, LayerSource};

/// The layers of an image of `closure` whose rootfs is `rootfs`, bottom
/// first: the store groups of every path but those in `leave_out` (which
/// declared layers hold), then the top-level tree; `max_layers` of them at
/// most. A one-path group whose path has a layer in `cached` (taken out of
/// it) takes that layer's finished blob, the bytes it would pack.
pub fn layer_inputs(
    store: &StoreDir,
    closure: &Closure,
    rootfs: &Plan,
    max_layers: u32,
    leave_out: &BTreeSet<StorePath>,
    cached: &mut BTreeMap<StorePath, Cached>,
) -> Vec<LayerInput> {
    let mut layers: Vec<LayerInput> = group_by_popularity_without(closure, max_layers, leave_out)
        .iter()
        .map(|g| {
            let hit = match g.paths.as_slice() {
                [one] => cached.remove(one),
                _ => None,
            };
            match hit {
                Some(c) => LayerInput { source: LayerSource::Blob(c.blob), created_by: describe(store, g) },
                None => LayerInput::plan(group_plan(store, g, rootfs), describe(store, g)),
            }
        })
        .collect();
    layers.push(LayerInput::plan(
        without_store(store, rootfs),
        "mkaci: the top-level tree (merged packages, /etc, /tmp, mount targets)",
    ));
    layers
}

/// What the image history says made a store layer.
pub fn describe(store: &StoreDir, layer: &StoreGroup) -> String {
    match layer.paths.as_slice() {
        [one] => format!("mkaci: {}", store.display(one)),
        many => format!("mkaci: {} less popular store paths", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_history() {
        let store = StoreDir::default();
        let p: Vec<StorePath> =
            ["a", "b"].iter().map(|c| StorePath::from_base_name(&format!("{}-p", c.repeat(32))).unwrap()).collect();
        assert_eq!(
            describe(&store, &StoreGroup { paths: p[..1].to_vec(), popularity: 1 }),
            format!("mkaci: {}", store.display(&p[0]))
        );
        assert_eq!(describe(&store, &StoreGroup { paths: p, popularity: 1 }), "mkaci: 2 less popular store paths");
    }
}
