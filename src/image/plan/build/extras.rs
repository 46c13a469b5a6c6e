//! [`Extras`] in the planned tree: generated `/etc` files, copied files,
//! directories with an owner, mount target ownership and `perms`. Nothing
//! here enters the store directory: store contents stay as Nix made them.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::{components, ensure_dir, io, is_exec, open, open_path, Origin, PlanError, Tree};
use crate::image::plan::{mode, Extras, FileSource, ImagePath, Meta, Node, Owner};
use crate::nix::store_path::StoreDir;

type Children = BTreeMap<Vec<u8>, Tree>;

/// True when `path` is the store directory or inside it.
fn in_store(store: &StoreDir, path: &ImagePath) -> bool {
    let (p, s) = (path.as_bytes(), store.relative().as_bytes());
    p.starts_with(s) && (p.len() == s.len() || p[s.len()] == b'/')
}

/// True when `path` is a proper ancestor of the store directory.
fn contains_store(store: &StoreDir, path: &ImagePath) -> bool {
    let (p, s) = (path.as_bytes(), store.relative().as_bytes());
    s.len() > p.len() && s.starts_with(p) && s[p.len()] == b'/'
}

fn refuse_store(store: &StoreDir, path: &ImagePath, what: &str) -> Result<(), PlanError> {
    if in_store(store, path) {
        return Err(PlanError::InStore {
            what: what.to_string(),
            path: path.clone(),
            store_dir: store.as_str().to_string(),
        });
    }
    Ok(())
}

/// The directory that will hold `path`, created (root's, 0755) where missing;
/// a leaf in the way is a conflict with `what`.
fn parent_dir<'t>(root: &'t mut Tree, path: &ImagePath, what: &str) -> Result<(&'t mut Children, Vec<u8>), PlanError> {
    let comps = components(path);
    let (last, parents) = comps.split_last().expect("non-empty path");
    open_path(root, parents)?;
    let dir = ensure_dir(root, parents).map_err(|(i, origin)| PlanError::Conflict {
        path: ImagePath::new(parents[..=i].join(&b'/')).expect("valid"),
        first: origin.describe(),
        second: what.to_string(),
    })?;
    Ok((dir, last.clone()))
}

fn describe_existing(t: &Tree) -> String {
    match t {
        Tree::Leaf { origin, .. } | Tree::Lazy { origin, .. } => origin.describe(),
        Tree::Dir { .. } => "a directory of the packages or of mkaci".to_string(),
    }
}

/// Generated files (`/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`).
pub(super) fn generated(root: &mut Tree, extras: &Extras) -> Result<(), PlanError> {
    for g in &extras.generated {
        let (dir, name) = parent_dir(root, &g.path, &g.what)?;
        if let Some(existing) = dir.get(&name) {
            if g.if_absent {
                continue;
            }
            return Err(PlanError::Conflict {
                path: g.path.clone(),
                first: describe_existing(existing),
                second: g.what.clone(),
            });
        }
        let node = Node::File { mode: mode::ETC_FILE, owner: Owner::ROOT, source: FileSource::Inline(g.bytes.clone()) };
        dir.insert(name, Tree::Leaf { node, origin: Origin::Argument(g.what.clone()), host: None });
    }
    Ok(())
}

/// `files`: each source copied as real files at its path.
pub(super) fn files(root: &mut Tree, store: &StoreDir, extras: &Extras) -> Result<(), PlanError> {
    for f in &extras.files {
        refuse_store(store, &f.path, &f.what)?;
        let tree = copy_tree(&f.source, &f.meta, true, &f.what)?;
        let (dir, name) = parent_dir(root, &f.path, &f.what)?;
        if let Some(existing) = dir.get(&name) {
            return Err(PlanError::Conflict {
                path: f.path.clone(),
                first: describe_existing(existing),
                second: format!("{} ({})", f.what, f.source.display()),
            });
        }
        dir.insert(name, tree);
    }
    Ok(())
}

/// A host tree as real entries owned per `meta`; `top`: `meta.mode` applies.
/// Links inside stay links.
fn copy_tree(src: &Path, meta: &Meta, top: bool, what: &str) -> Result<Tree, PlanError> {
    // The top is followed (a store path may be a link to a file); below it
    // nothing is.
    let m = if top { std::fs::metadata(src) } else { std::fs::symlink_metadata(src) }.map_err(io(src))?;
    let owner = Owner { uid: meta.uid.unwrap_or(0), gid: meta.gid.unwrap_or(0) };
    let mode_of = |default: u32| if top { meta.mode.unwrap_or(default) } else { default };
    let origin = Origin::Argument(what.to_string());
    let ft = m.file_type();
    if ft.is_dir() {
        let mut children = BTreeMap::new();
        for e in std::fs::read_dir(src).map_err(io(src))? {
            let name = e.map_err(io(src))?.file_name();
            children.insert(name.as_bytes().to_vec(), copy_tree(&src.join(&name), meta, false, what)?);
        }
        Ok(Tree::Dir { mode: mode_of(mode::DIR), owner, children })
    } else if ft.is_file() {
        let default = if is_exec(&m) { mode::ETC_EXEC } else { mode::ETC_FILE };
        let source = FileSource::Host { path: src.to_path_buf(), size: m.len() };
        Ok(Tree::Leaf { node: Node::File { mode: mode_of(default), owner, source }, origin, host: None })
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(io(src))?.as_os_str().as_bytes().to_vec();
        Ok(Tree::Leaf { node: Node::Symlink { target }, origin, host: None })
    } else {
        let kind = if ft.is_fifo() {
            "a named pipe"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        Err(PlanError::UnsupportedSource { what: what.to_string(), path: src.to_path_buf(), kind })
    }
}

/// Sets `meta` on the directory at `path`, creating it (and its parents)
/// where missing.
pub(super) fn owned_dir(
    root: &mut Tree,
    store: &StoreDir,
    path: &ImagePath,
    meta: &Meta,
    what: &str,
) -> Result<(), PlanError> {
    refuse_store(store, path, what)?;
    let comps = components(path);
    open_path(root, &comps)?;
    let (parents, last) = comps.split_at(comps.len() - 1);
    let dir = ensure_dir(root, parents).map_err(|(i, origin)| PlanError::Conflict {
        path: ImagePath::new(parents[..=i].join(&b'/')).expect("valid"),
        first: origin.describe(),
        second: what.to_string(),
    })?;
    let entry = dir.entry(last[0].clone()).or_insert_with(|| Tree::dir(mode::DIR));
    open(entry)?;
    match entry {
        Tree::Dir { mode: m, owner, .. } => {
            (*owner, *m) = meta.apply(*owner, *m);
            Ok(())
        }
        other => {
            Err(PlanError::Conflict { path: path.clone(), first: describe_existing(other), second: what.to_string() })
        }
    }
}

/// Home directories: created, owned by their user.
pub(super) fn dirs(root: &mut Tree, store: &StoreDir, extras: &Extras) -> Result<(), PlanError> {
    for d in &extras.dirs {
        owned_dir(root, store, &d.path, &d.meta, &d.what)?;
    }
    Ok(())
}

/// `perms`, in order, on what the image has by now.
pub(super) fn perms(root: &mut Tree, store: &StoreDir, extras: &Extras) -> Result<(), PlanError> {
    for p in &extras.perms {
        refuse_store(store, &p.path, &p.what)?;
        if p.recursive && contains_store(store, &p.path) {
            return Err(PlanError::RecursiveOverStore {
                what: p.what.clone(),
                path: p.path.clone(),
                store_dir: store.as_str().to_string(),
            });
        }
        let comps = components(&p.path);
        open_path(root, &comps)?;
        let mut cur = &mut *root;
        for c in &comps {
            let next = match cur {
                Tree::Dir { children, .. } => children.get_mut(c),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => return Err(PlanError::PermNotFound { what: p.what.clone(), path: p.path.clone() }),
            }
        }
        if let Tree::Leaf { node: Node::Symlink { target }, .. } = cur {
            return Err(PlanError::PermOnLink {
                what: p.what.clone(),
                path: p.path.clone(),
                target: String::from_utf8_lossy(target).into_owned(),
            });
        }
        set_meta(cur, &p.meta, p.recursive)?;
    }
    Ok(())
}

/// Sets `meta` on a directory or file, and with `recursive` on everything
/// below it (opening lazy directories; links are left as they are).
fn set_meta(t: &mut Tree, meta: &Meta, recursive: bool) -> Result<(), PlanError> {
    if recursive {
        open(t)?;
    }
    match t {
        Tree::Dir { mode: m, owner, children } => {
            (*owner, *m) = meta.apply(*owner, *m);
            if recursive {
                for child in children.values_mut() {
                    set_meta(child, meta, true)?;
                }
            }
        }
        Tree::Leaf { node: Node::File { mode: m, owner, .. } | Node::Dir { mode: m, owner }, .. } => {
            (*owner, *m) = meta.apply(*owner, *m);
        }
        Tree::Lazy { .. } => {
            // Not recursive: the directory itself, which becomes a real one.
            open(t)?;
            return set_meta(t, meta, false);
        }
        Tree::Leaf { .. } => {}
    }
    Ok(())
}
