//! Store paths as plan entries, and the order every format puts them in.
//!
//! - [`store_dirs`], [`store_plan`], [`group_plan`]: the store directory and
//!   whole store paths as [`Entry`]s (an OCI store layer, a dependency ACI);
//!   [`without_store_paths`], [`without_store`]: a rootfs with some or all of
//!   them left out (an app image over its dependencies, an OCI image's
//!   top-level layer).
//! - [`popularity`], [`group_by_popularity`]: the popularity order (as
//!   nixpkgs' `referencesByPopularity` does it). A path's popularity is the
//!   number of closure paths whose closure contains it, itself included:
//!   glibc, which nearly everything references, is the most popular; the
//!   package at the top, which nothing references, the least. Groups are
//!   ordered most popular first, ties broken by store path (its hash), so
//!   that images built from related closures share their bottom layers or
//!   dependency images (engines identify a layer by the chain below it).
//!
//! With `n` store paths and a budget of `m` layers (a top-level layer
//! included): `n <= m - 1` gives each path its own group; otherwise the
//! `m - 2` most popular paths get a group each and the remaining
//! `n - (m - 2)` share the last group.

use std::collections::{BTreeMap, BTreeSet};

use super::{archive_order, mode, Entry, ImagePath, Node, Owner, Plan};
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath};

/// Store paths that go together (one OCI layer, one dependency image), in
/// store (base name) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreGroup {
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

/// The closure in groups for at most `max_layers` layers in all (a
/// top-level layer included; at least 2), bottom first: each path its own
/// group, most popular first, ties in store order; past the budget the
/// least popular share the last group. See the module docs.
pub fn group_by_popularity(closure: &Closure, max_layers: u32) -> Vec<StoreGroup> {
    group_by_popularity_without(closure, max_layers, &BTreeSet::new())
}

/// [`group_by_popularity`] of the closure less `leave_out` (the paths that
/// declared layers hold): the popularity is still counted over the whole
/// closure, so the order of the other paths does not change.
pub fn group_by_popularity_without(
    closure: &Closure,
    max_layers: u32,
    leave_out: &BTreeSet<StorePath>,
) -> Vec<StoreGroup> {
    let pop = popularity(closure);
    let mut order: Vec<(&StorePath, usize)> =
        pop.iter().filter(|(p, _)| !leave_out.contains(*p)).map(|(p, c)| (p, *c)).collect();
    // Most popular first; among equals, store order (by hash).
    order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let budget = (max_layers.max(2) - 1) as usize;
    let singles = if order.len() <= budget { order.len() } else { budget - 1 };
    let mut layers: Vec<StoreGroup> =
        order[..singles].iter().map(|(p, c)| StoreGroup { paths: vec![(*p).clone()], popularity: *c }).collect();
    if singles < order.len() {
        let rest = &order[singles..];
        let mut paths: Vec<StorePath> = rest.iter().map(|(p, _)| (*p).clone()).collect();
        paths.sort();
        layers.push(StoreGroup { paths, popularity: rest[0].1 });
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

/// The plan of one group (an OCI store layer): the store directory's parents and each path,
/// whole. Each path's node is taken from `rootfs` (the image's own plan, where
/// a store path is checked against its NAR hash while it is packed) when it is
/// there, else it is a plain host tree.
pub fn group_plan(store: &StoreDir, layer: &StoreGroup, rootfs: &Plan) -> Plan {
    let mut entries = store_dirs(store);
    let dir = entries.last().expect("the store directory has a component").path.clone();
    for p in &layer.paths {
        let path = dir.join(p.base_name().as_bytes()).expect("a store path's base name is a valid name");
        let node = match rootfs.entries.binary_search_by(|e| archive_order(&e.path, &path)) {
            Ok(i) => rootfs.entries[i].node.clone(),
            Err(_) => Node::HostTree { source: store.host_path(p) },
        };
        entries.push(Entry { path, node });
    }
    let plan = Plan { entries };
    debug_assert!(plan.is_ordered());
    plan
}

/// The rootfs outside the store (an OCI image's top-level layer): the whole rootfs plan less what is inside the store
/// directory (the closure, which the store layers hold).
pub fn without_store(store: &StoreDir, rootfs: &Plan) -> Plan {
    let rel = store.relative();
    let mut prefix = rel.as_bytes().to_vec();
    prefix.push(b'/');
    let entries = rootfs.entries.iter().filter(|e| !e.path.as_bytes().starts_with(&prefix)).cloned().collect();
    Plan { entries }
}

/// The rootfs of a dependency image holding `paths` (in store order): the
/// store directory and its parents (root's, 0755, as in every image), and
/// each path whole, checked against its NAR hash while it is packed when the
/// closure has one.
pub fn store_plan(store: &StoreDir, closure: &Closure, paths: &[StorePath]) -> Plan {
    let mut entries = store_dirs(store);
    let dir = entries.last().expect("the store directory has a component").path.clone();
    let dirs = entries.len();
    let wanted: BTreeSet<&StorePath> = paths.iter().collect();
    // The closure lists its paths in store order, the archive order of
    // siblings in the store directory.
    for info in closure.paths().iter().filter(|i| wanted.contains(&i.path)) {
        let source = store.host_path(&info.path);
        let node = match info.nar_hash {
            Some(nar_hash) => Node::VerifiedTree { source, nar_hash },
            None => Node::HostTree { source },
        };
        entries.push(Entry { path: dir.join(info.path.base_name().as_bytes()).expect("a base name"), node });
    }
    let plan = Plan { entries };
    debug_assert!(plan.is_ordered());
    debug_assert_eq!(plan.entries.len(), dirs + wanted.len(), "every path is in the closure");
    plan
}

/// `rootfs` without the store paths in `leave_out` (their entries and
/// everything below them); the store directory itself stays.
pub fn without_store_paths(store: &StoreDir, rootfs: Plan, leave_out: &BTreeSet<StorePath>) -> Plan {
    let mut dir = store.relative().as_bytes().to_vec();
    dir.push(b'/');
    let entries = rootfs
        .entries
        .into_iter()
        .filter(|e| {
            let Some(rest) = e.path.as_bytes().strip_prefix(dir.as_slice()) else { return true };
            let base = rest.split(|&b| b == b'/').next().unwrap_or(rest);
            match std::str::from_utf8(base).ok().and_then(|b| StorePath::from_base_name(b).ok()) {
                Some(sp) => !leave_out.contains(&sp),
                None => true,
            }
        })
        .collect();
    Plan { entries }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::closure::RawPathInfo;

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
    fn leaving_store_paths_out() {
        let store = StoreDir::default();
        let a = StorePath::from_base_name(&format!("{}-a", "a".repeat(32))).unwrap();
        let b = StorePath::from_base_name(&format!("{}-b", "b".repeat(32))).unwrap();
        let dir =
            |s: &str| Entry { path: ImagePath::new(s).unwrap(), node: Node::Dir { mode: 0o755, owner: Owner::ROOT } };
        let plan = Plan {
            entries: vec![
                dir("bin"),
                dir("nix"),
                dir("nix/store"),
                dir(&format!("nix/store/{a}")),
                dir(&format!("nix/store/{a}/bin")),
                dir(&format!("nix/store/{b}")),
                dir("tmp"),
            ],
        };
        let left = without_store_paths(&store, plan, &[a.clone()].into_iter().collect());
        let names: Vec<String> = left.entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(names, ["/bin", "/nix", "/nix/store", &format!("/nix/store/{b}"), "/tmp"]);
    }

    #[test]
    fn grouping_without_declared_paths() {
        let store = StoreDir::default();
        let (c, p) = closure(&store, &[&[1, 3], &[2], &[2], &[2]]);
        // Leaving out glibc (p2) keeps the others in their order.
        let out: BTreeSet<StorePath> = [p[2].clone()].into_iter().collect();
        let layers = group_by_popularity_without(&c, 100, &out);
        let order: Vec<&StorePath> = layers.iter().map(|l| &l.paths[0]).collect();
        assert_eq!(order, [&p[1], &p[3], &p[0]]);
        // The budget counts only what is left: 3 layers in all gives 1 single and 1 shared group.
        let layers = group_by_popularity_without(&c, 3, &out);
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[1].paths, vec![p[0].clone(), p[3].clone()]);
        // Nothing left out is the plain grouping.
        assert_eq!(group_by_popularity_without(&c, 4, &BTreeSet::new()), group_by_popularity(&c, 4));
    }

    #[test]
    fn group_plans() {
        let store = StoreDir::default();
        let (_, p) = closure(&store, &[&[], &[]]);
        let plan = group_plan(&store, &StoreGroup { paths: p.clone(), popularity: 1 }, &Plan::default());
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
        let top: Vec<String> = without_store(&store, &rootfs).entries.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(top, ["/bin", "/nix", "/nix/store", "/nix/storex", "/tmp"]);
    }
}
