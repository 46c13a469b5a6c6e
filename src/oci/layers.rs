//! The layers of an OCI image: one per store path of the closure, the most
//! popular first, up to `maxLayers`; past that, the least popular paths
//! share one layer. The last layer is the top-level tree: the rootfs plan
//! without the store paths (`/etc`, `/tmp`, mount targets, the packages'
//! merged trees, the store directory itself).
//!
//! Popularity (as nixpkgs' `referencesByPopularity` does it): a path's
//! popularity is the number of closure paths whose closure contains it,
//! itself included. glibc, which nearly everything references, is the most
//! popular; the package at the top, which nothing references, the least.
//! Layers are ordered most popular first, ties broken by store path (its
//! hash), so that images built from related closures share their bottom
//! layers (engines identify a layer by the chain of layers below it).
//!
//! With `n` store paths and `maxLayers = m` (the top-level layer included):
//! - `n <= m - 1`: each path is a layer;
//! - otherwise the `m - 2` most popular paths are a layer each, and the
//!   remaining `n - (m - 2)` share the last store layer.

use std::collections::BTreeMap;

use crate::closure::Closure;
use crate::plan::{mode, Entry, ImagePath, Node, Owner, Plan};
use crate::store_path::{StoreDir, StorePath};

/// What one store layer holds: store paths, in store (base name) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerContent {
    pub paths: Vec<StorePath>,
    /// How popular its (most popular) path is.
    pub popularity: usize,
}

/// Each closure path's popularity: how many closure paths reach it through
/// references, itself included.
pub fn popularity(closure: &Closure) -> BTreeMap<StorePath, usize> {
    let paths = closure.paths();
    let index: BTreeMap<&StorePath, usize> = paths.iter().enumerate().map(|(i, p)| (&p.path, i)).collect();
    let mut count = vec![0usize; paths.len()];
    let mut seen = vec![usize::MAX; paths.len()];
    let mut stack = Vec::new();
    for start in 0..paths.len() {
        // Every path reachable from `start` (itself included) gains one.
        stack.push(start);
        seen[start] = start;
        while let Some(i) = stack.pop() {
            count[i] += 1;
            for r in &paths[i].references {
                let j = index[r];
                if seen[j] != start {
                    seen[j] = start;
                    stack.push(j);
                }
            }
        }
    }
    paths.iter().zip(count).map(|(p, c)| (p.path.clone(), c)).collect()
}

/// The store layers for at most `max_layers` layers in all (the top-level
/// tree's included; at least 2), bottom first. See the module docs.
pub fn group_by_popularity(closure: &Closure, max_layers: u32) -> Vec<LayerContent> {
    let pop = popularity(closure);
    let mut order: Vec<(&StorePath, usize)> = pop.iter().map(|(p, c)| (p, *c)).collect();
    // Most popular first; among equals, store order (by hash).
    order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let budget = (max_layers.max(2) - 1) as usize;
    let singles = if order.len() <= budget { order.len() } else { budget - 1 };
    let mut layers: Vec<LayerContent> =
        order[..singles].iter().map(|(p, c)| LayerContent { paths: vec![(*p).clone()], popularity: *c }).collect();
    if singles < order.len() {
        let rest = &order[singles..];
        let mut paths: Vec<StorePath> = rest.iter().map(|(p, _)| (*p).clone()).collect();
        paths.sort();
        layers.push(LayerContent { paths, popularity: rest[0].1 });
    }
    layers
}

/// The store directory and its parents, as the fat plan makes them.
pub fn store_dirs(store: &StoreDir) -> Vec<Entry> {
    let rel = ImagePath::new(store.relative()).expect("StoreDir is a valid absolute path");
    let mut at: Option<ImagePath> = None;
    let mut out = Vec::new();
    for c in rel.components() {
        let p = match &at {
            None => ImagePath::new(c.to_vec()).expect("a valid component"),
            Some(parent) => parent.join(c).expect("a valid component"),
        };
        out.push(Entry { path: p.clone(), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } });
        at = Some(p);
    }
    out
}

/// The plan of one store layer: the store directory's parents and each path,
/// whole. Each path's node is taken from `rootfs` (the image's own plan, where
/// a store path is checked against its NAR hash while it is packed) when it is
/// there, else it is a plain host tree.
pub fn store_layer_plan(store: &StoreDir, layer: &LayerContent, rootfs: &Plan) -> Plan {
    let mut entries = store_dirs(store);
    let dir = entries.last().expect("the store directory has a component").path.clone();
    for p in &layer.paths {
        let path = dir.join(p.base_name().as_bytes()).expect("a store path's base name is a valid name");
        let node = match rootfs.entries.binary_search_by(|e| crate::plan::archive_order(&e.path, &path)) {
            Ok(i) => rootfs.entries[i].node.clone(),
            Err(_) => Node::HostTree { source: store.host_path(p) },
        };
        entries.push(Entry { path, node });
    }
    let plan = Plan { entries };
    debug_assert!(plan.is_ordered());
    plan
}

/// The top-level layer: the whole rootfs plan less what is inside the store
/// directory (the closure, which the store layers hold).
pub fn top_layer_plan(store: &StoreDir, rootfs: &Plan) -> Plan {
    let rel = store.relative();
    let mut prefix = rel.as_bytes().to_vec();
    prefix.push(b'/');
    let entries = rootfs.entries.iter().filter(|e| !e.path.as_bytes().starts_with(&prefix)).cloned().collect();
    Plan { entries }
}

/// What the image history says made a store layer.
pub fn describe(store: &StoreDir, layer: &LayerContent) -> String {
    match layer.paths.as_slice() {
        [one] => format!("mkaci: {}", store.display(one)),
        many => format!("mkaci: {} less popular store paths", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closure::RawPathInfo;

    /// A closure of `n` paths `<i>...-p<i>`; `refs[i]` lists what path i references.
    fn closure(store: &StoreDir, refs: &[&[usize]]) -> (Closure, Vec<StorePath>) {
        let paths: Vec<StorePath> = (0..refs.len())
            .map(|i| {
                StorePath::from_base_name(&format!("{}-p{i}", char::from(b'a' + i as u8).to_string().repeat(32)))
                    .unwrap()
            })
            .collect();
        let raw: Vec<RawPathInfo> = refs
            .iter()
            .enumerate()
            .map(|(i, r)| RawPathInfo {
                path: store.display(&paths[i]),
                nar_hash: None,
                nar_size: None,
                references: r.iter().map(|j| store.display(&paths[*j])).collect(),
            })
            .collect();
        (Closure::from_raw(store, &raw).unwrap(), paths)
    }

    #[test]
    fn popularity_counts_the_paths_that_reach_each_path() {
        let store = StoreDir::default();
        // 0 = app -> 1 (lib) -> 2 (glibc); 3 (tool) -> 2; 0 -> 3; 2 -> 2 (self-reference).
        let (c, p) = closure(&store, &[&[1, 3], &[2], &[2], &[2]]);
        let pop = popularity(&c);
        assert_eq!([pop[&p[0]], pop[&p[1]], pop[&p[2]], pop[&p[3]]], [1, 2, 4, 2]);
        // Enough layers: one each, most popular first, ties in store order.
        let layers = group_by_popularity(&c, 100);
        let order: Vec<&StorePath> = layers.iter().map(|l| &l.paths[0]).collect();
        assert_eq!(order, [&p[2], &p[1], &p[3], &p[0]]);
        assert!(layers.iter().all(|l| l.paths.len() == 1));
        // Exactly enough: 4 store layers + the top one.
        assert_eq!(group_by_popularity(&c, 5).len(), 4);
        // One short: the two least popular (p3 and p0) share the last layer.
        let layers = group_by_popularity(&c, 4);
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[2].paths, vec![p[0].clone(), p[3].clone()]);
        // The minimum: everything in one store layer.
        let layers = group_by_popularity(&c, 2);
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].paths.len(), 4);
        assert_eq!(group_by_popularity(&c, 0), layers);
    }

    #[test]
    fn layer_plans() {
        let store = StoreDir::default();
        let (_, p) = closure(&store, &[&[], &[]]);
        let plan = store_layer_plan(&store, &LayerContent { paths: p.clone(), popularity: 1 }, &Plan::default());
        let names: Vec<String> = plan.entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(
            names,
            [
                "/nix".to_string(),
                "/nix/store".into(),
                format!("/nix/store/{}", p[0].base_name()),
                format!("/nix/store/{}", p[1].base_name())
            ]
        );
        assert!(plan.is_ordered());
        let rootfs = Plan {
            entries: ["bin", "nix", "nix/store", &format!("nix/store/{}", p[0].base_name()), "nix/storex", "tmp"]
                .iter()
                .map(|s| Entry {
                    path: ImagePath::new(*s).unwrap(),
                    node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT },
                })
                .collect(),
        };
        let top: Vec<String> = top_layer_plan(&store, &rootfs).entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(top, ["/bin", "/nix", "/nix/store", "/nix/storex", "/tmp"]);
        assert_eq!(
            describe(&store, &LayerContent { paths: p[..1].to_vec(), popularity: 1 }),
            format!("mkaci: {}", store.display(&p[0]))
        );
        assert_eq!(describe(&store, &LayerContent { paths: p, popularity: 1 }), "mkaci: 2 less popular store paths");
    }
}
