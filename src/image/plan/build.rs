//! Building a [`Plan`]: the packages' top-level trees merged at `/` the way nixpkgs
//! `buildEnv` does it (real directories, symlinked leaves), `/etc` copied as real
//! files, `/tmp`, the mount targets, and the store paths under the store directory
//! (whole trees for fat images, placeholders for thin ones).
//!
//! Also resolves paths inside the planned image, following the image's own symlinks,
//! so that `exec[0]` and `workingDirectory` are checked at build time.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{mode, Entry, Extras, FileSource, ImagePath, Node, Owner, Plan, StoreLayout};
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath};

/// What `/etc/hosts` holds when `dnsquirks` is on.
pub const DNSQUIRKS_HOSTS: &[u8] =
    b"127.0.0.1 localhost localhost.localdomain\n::1 localhost ip6-localhost ip6-loopback\n";

/// Most symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

pub struct PlanInput<'a> {
    pub store: &'a StoreDir,
    pub closure: &'a Closure,
    /// Packages whose top-level trees are merged at `/`, in the user's order.
    pub packages: &'a [StorePath],
    pub layout: StoreLayout,
    pub dnsquirks: bool,
    /// Mount targets (user `mounts` and `mountsRo`), created as directories.
    pub mount_targets: &'a [(String, ImagePath)],
    /// Users' files, directories, ownership and modes ([`Extras::default`]: none).
    pub extras: &'a Extras,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{path} is provided by both {first} and {second} with different contents; remove one of the packages from `packages`, or put them in an order where only one provides it")]
    Collision { path: ImagePath, first: String, second: String },
    #[error("package {package} is not in the closure reported by Nix")]
    PackageNotInClosure { package: String },
    #[error("mount point `{name}` targets {path}, but {path} is a file or link provided by {package}; choose a path that is a directory or does not exist")]
    MountOnFile { name: String, path: ImagePath, package: String },
    #[error(
        "mount point `{name}` targets {path}, which is inside the store directory; choose a path outside {store_dir}"
    )]
    MountInStore { name: String, path: ImagePath, store_dir: String },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{field} = {value:?}: {problem}")]
    Resolve { field: &'static str, value: String, problem: ResolveProblem },
    #[error("{second}: {path} is already in the image, from {first}; remove one of them, or choose another path")]
    Conflict { path: ImagePath, first: String, second: String },
    #[error("{what}: {path} is inside the store directory {store_dir}; store contents stay as Nix made them: change the package, or choose a path outside {store_dir} (`files` copies a store file out)")]
    InStore { what: String, path: ImagePath, store_dir: String },
    #[error("{what}: {path} contains the store directory {store_dir}, which a recursive entry would change; store contents stay as Nix made them: name a directory that does not contain {store_dir}, or set recursive = false")]
    RecursiveOverStore { what: String, path: ImagePath, store_dir: String },
    #[error("{what}: {path} does not exist in the image; create it first (`files`, `users.<name>.home`, `mounts`) or correct the path")]
    PermNotFound { what: String, path: ImagePath },
    #[error("{what}: {path} is a symbolic link (to {target}), whose ownership and mode mean nothing; name what it points to if that is outside the store, or copy the file into place with `files`")]
    PermOnLink { what: String, path: ImagePath, target: String },
    #[error("{what}: {path} is {kind}, not a file or directory; give `files` a regular file or a directory")]
    UnsupportedSource { what: String, path: PathBuf, kind: &'static str },
}

/// Why a path does not resolve to what it should inside the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveProblem {
    #[error("must be an absolute path")]
    NotAbsolute,
    #[error("{at} does not exist in the image; check the path, or add the package that provides it to `packages`")]
    NotFound { at: String },
    #[error("{at} is in the store but not in the image's closure; add the package that provides it to `packages`")]
    NotInClosure { at: String },
    #[error("{at} is not a directory")]
    NotADirectory { at: String },
    #[error("too many levels of symbolic links at {at}")]
    SymlinkLoop { at: String },
    #[error("resolves to {at}, which is a directory; exec[0] must be an executable file")]
    IsADirectory { at: String },
    #[error("resolves to {at}, which is not executable (mode {mode:o})")]
    NotExecutable { at: String, mode: u32 },
}

/// Who put a node in the tree, for collision messages.
#[derive(Debug, Clone)]
enum Origin {
    Package(String),
    Mkaci(&'static str),
    /// An argument, e.g. `files./etc/app.conf` or `users`.
    Argument(String),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Package(p) => p.clone(),
            Origin::Mkaci(what) => format!("mkaci ({what})"),
            Origin::Argument(what) => what.clone(),
        }
    }
}

mod extras;

#[derive(Debug)]
enum Tree {
    Dir {
        mode: u32,
        owner: Owner,
        children: BTreeMap<Vec<u8>, Tree>,
    },
    Leaf {
        node: Node,
        origin: Origin,
        /* for collision checks */ host: Option<PathBuf>,
    },
    /// A directory that only one package provides (so far): its merged form
    /// mirrors the package's directory `src`, real directories and links to
    /// `link/...`, and is not read until another package or mkaci needs to
    /// put something inside it ([`expand`]). Never under `/etc`, whose files
    /// are copies. Keeps the plan as small as the overlap of the packages.
    Lazy {
        src: PathBuf,
        link: Vec<u8>,
        origin: Origin,
    },
}

impl Tree {
    fn dir(mode: u32) -> Tree {
        Tree::Dir { mode, owner: Owner::ROOT, children: BTreeMap::new() }
    }
}

/// The planned image: its [`Plan`] plus what is needed to resolve paths inside it.
pub struct PlannedRootfs<'a> {
    pub plan: Plan,
    root: Tree,
    store: &'a StoreDir,
    closure: &'a Closure,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PlanError + '_ {
    move |source| PlanError::Io { path: path.to_path_buf(), source }
}

fn components(p: &ImagePath) -> Vec<Vec<u8>> {
    p.components().map(|c| c.to_vec()).collect()
}

/// One level of a [`Tree::Lazy`]: its subdirectories lazy again, everything
/// else a link to the package's file (what [`merge_dir`] makes outside `/etc`).
fn expand(src: &Path, link: &[u8], origin: &Origin) -> Result<BTreeMap<Vec<u8>, Tree>, PlanError> {
    let mut children = BTreeMap::new();
    for e in std::fs::read_dir(src).map_err(io(src))? {
        let name = e.map_err(io(src))?.file_name();
        let host = src.join(&name);
        let meta = std::fs::symlink_metadata(&host).map_err(io(&host))?;
        let mut l = link.to_vec();
        l.push(b'/');
        l.extend_from_slice(name.as_bytes());
        let t = if meta.is_dir() {
            Tree::Lazy { src: host, link: l, origin: origin.clone() }
        } else {
            Tree::Leaf { node: Node::Symlink { target: l }, origin: origin.clone(), host: Some(host) }
        };
        children.insert(name.as_bytes().to_vec(), t);
    }
    Ok(children)
}

/// Turns a [`Tree::Lazy`] into a real directory of lazy children; leaves
/// anything else as it is.
fn open(t: &mut Tree) -> Result<(), PlanError> {
    if let Tree::Lazy { src, link, origin } = t {
        let children = expand(src, link, origin)?;
        *t = Tree::Dir { mode: mode::DIR, owner: Owner::ROOT, children };
    }
    Ok(())
}

/// Opens every lazy directory on the way to `comps` (as far as the path
/// exists), so that [`ensure_dir`] finds real directories.
fn open_path(root: &mut Tree, comps: &[Vec<u8>]) -> Result<(), PlanError> {
    let mut cur = root;
    for c in comps {
        open(cur)?;
        let Tree::Dir { children, .. } = cur else { return Ok(()) };
        match children.get_mut(c) {
            Some(next) => cur = next,
            None => return Ok(()),
        }
    }
    open(cur)
}

/// Walks to the directory at `comps`, creating real directories (mode
/// [`mode::DIR`]) where missing. Fails if a leaf is in the way.
fn ensure_dir<'t>(root: &'t mut Tree, comps: &[Vec<u8>]) -> Result<&'t mut BTreeMap<Vec<u8>, Tree>, (usize, Origin)> {
    let mut cur = root;
    for (i, c) in comps.iter().enumerate() {
        let Tree::Dir { children, .. } = cur else { unreachable!("checked below") };
        let next = children.entry(c.clone()).or_insert_with(|| Tree::dir(mode::DIR));
        match next {
            Tree::Leaf { origin, .. } => return Err((i, origin.clone())),
            // open_path opened it (an I/O error there was reported).
            Tree::Lazy { origin, .. } => return Err((i, origin.clone())),
            Tree::Dir { .. } => {}
        }
        cur = next;
    }
    match cur {
        Tree::Dir { children, .. } => Ok(children),
        Tree::Leaf { .. } | Tree::Lazy { .. } => unreachable!(),
    }
}

fn is_exec(m: &std::fs::Metadata) -> bool {
    m.permissions().mode() & 0o111 != 0
}

fn same_contents(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) else {
        return false;
    };
    if ma.file_type().is_symlink() || mb.file_type().is_symlink() {
        return ma.file_type().is_symlink()
            && mb.file_type().is_symlink()
            && std::fs::read_link(a).ok() == std::fs::read_link(b).ok();
    }
    if !(ma.is_file() && mb.is_file()) || ma.len() != mb.len() || is_exec(&ma) != is_exec(&mb) {
        return false;
    }
    files_equal(a, b).unwrap_or(false)
}

fn files_equal(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(fb.read(&mut bb)? == 0);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Merges the tree at host path `src` (a package directory) into `dir`, which is at
/// image path `at`. Directories become real directories; everything else becomes a
/// symlink to its absolute store location (under `/etc`: a copy).
fn merge_dir(
    dir: &mut BTreeMap<Vec<u8>, Tree>,
    at: &[Vec<u8>],
    src: &Path,
    link_base: &[u8],
    pkg: &str,
) -> Result<(), PlanError> {
    let mut names: Vec<_> = std::fs::read_dir(src)
        .map_err(io(src))?
        .map(|e| e.map(|e| e.file_name()).map_err(io(src)))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let name_b = name.as_bytes().to_vec();
        let host = src.join(&name);
        let meta = std::fs::symlink_metadata(&host).map_err(io(&host))?;
        let mut child_at = at.to_vec();
        child_at.push(name_b.clone());
        let mut link = link_base.to_vec();
        link.push(b'/');
        link.extend_from_slice(&name_b);
        let in_etc = child_at.first().map(|c| c == b"etc").unwrap_or(false);
        if meta.is_dir() {
            if !in_etc && !dir.contains_key(&name_b) {
                dir.insert(name_b, Tree::Lazy { src: host, link, origin: Origin::Package(pkg.to_string()) });
                continue;
            }
            let entry = dir.entry(name_b).or_insert_with(|| Tree::dir(mode::DIR));
            open(entry)?;
            match entry {
                Tree::Dir { children, .. } => merge_dir(children, &child_at, &host, &link, pkg)?,
                Tree::Lazy { .. } => unreachable!("opened above"),
                Tree::Leaf { origin, .. } => {
                    return Err(PlanError::Collision {
                        path: ImagePath::new(child_at.join(&b'/')).expect("valid names"),
                        first: origin.describe(),
                        second: pkg.to_string(),
                    })
                }
            }
            continue;
        }
        let node = if in_etc { etc_copy(&host, &meta)? } else { Node::Symlink { target: link } };
        match dir.get(&name_b) {
            None => {
                dir.insert(name_b, Tree::Leaf { node, origin: Origin::Package(pkg.to_string()), host: Some(host) });
            }
            Some(existing) => {
                let same = match existing {
                    Tree::Leaf { host: Some(h), .. } => same_contents(h, &host),
                    _ => false,
                };
                if !same {
                    let first = match existing {
                        Tree::Leaf { origin, .. } | Tree::Lazy { origin, .. } => origin.describe(),
                        Tree::Dir { .. } => "another package (as a directory)".to_string(),
                    };
                    return Err(PlanError::Collision {
                        path: ImagePath::new(child_at.join(&b'/')).expect("valid names"),
                        first,
                        second: pkg.to_string(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// `/etc` entries are real files: a symlink that resolves to a regular file is
/// copied with the contents of its target; anything else stays a link.
fn etc_copy(host: &Path, meta: &std::fs::Metadata) -> Result<Node, PlanError> {
    let resolved = if meta.file_type().is_symlink() { std::fs::metadata(host).ok() } else { Some(meta.clone()) };
    match resolved {
        Some(m) if m.is_file() => Ok(Node::File {
            mode: if is_exec(&m) { mode::ETC_EXEC } else { mode::ETC_FILE },
            owner: Owner::ROOT,
            source: FileSource::Host { path: host.to_path_buf(), size: m.len() },
        }),
        _ => Ok(Node::Symlink { target: std::fs::read_link(host).map_err(io(host))?.as_os_str().as_bytes().to_vec() }),
    }
}

fn insert_leaf(root: &mut Tree, path: &ImagePath, node: Node, what: &'static str) -> Result<(), PlanError> {
    let comps = components(path);
    let (last, parents) = comps.split_last().expect("non-empty path");
    open_path(root, parents)?;
    let dir = ensure_dir(root, parents).map_err(|(i, origin)| PlanError::Collision {
        path: ImagePath::new(parents[..=i].join(&b'/')).expect("valid"),
        first: origin.describe(),
        second: format!("mkaci ({what})"),
    })?;
    dir.insert(last.clone(), Tree::Leaf { node, origin: Origin::Mkaci(what), host: None });
    Ok(())
}

/// Plans the rootfs of an image.
pub fn plan_rootfs<'a>(input: &PlanInput<'a>) -> Result<PlannedRootfs<'a>, PlanError> {
    let store = input.store;
    let mut root = Tree::dir(mode::DIR);
    for pkg in input.packages {
        if !input.closure.contains(pkg) {
            return Err(PlanError::PackageNotInClosure { package: store.display(pkg) });
        }
        let host = store.host_path(pkg);
        let meta = std::fs::metadata(&host).map_err(io(&host))?;
        // A package that is a single file has no tree to merge; it is still in the closure.
        if meta.is_dir() {
            let Tree::Dir { children, .. } = &mut root else { unreachable!() };
            merge_dir(children, &[], &host, store.display(pkg).as_bytes(), &store.display(pkg))?;
        }
    }

    let store_rel = ImagePath::new(store.relative()).expect("StoreDir is a valid absolute path");
    let store_comps = components(&store_rel);

    // /tmp: sticky and world-writable, whatever the packages say.
    open_path(&mut root, &[b"tmp".to_vec()])?;
    let tmp = ensure_dir(&mut root, &[b"tmp".to_vec()]).map_err(|(_, origin)| PlanError::Collision {
        path: ImagePath::new("tmp").expect("valid"),
        first: origin.describe(),
        second: "mkaci (/tmp)".into(),
    });
    tmp?;
    if let Tree::Dir { children, .. } = &mut root {
        if let Some(Tree::Dir { mode: m, .. }) = children.get_mut(b"tmp".as_slice()) {
            *m = mode::TMP;
        }
    }

    if input.dnsquirks {
        // dnsquirks replaces any /etc/hosts from the packages, as the original did.
        open_path(&mut root, &[b"etc".to_vec()])?;
        if let Ok(etc) = ensure_dir(&mut root, &[b"etc".to_vec()]) {
            etc.remove(b"hosts".as_slice());
        }
        insert_leaf(
            &mut root,
            &ImagePath::new("etc/hosts").expect("valid"),
            Node::File {
                mode: mode::ETC_FILE,
                owner: Owner::ROOT,
                source: FileSource::Inline(DNSQUIRKS_HOSTS.to_vec()),
            },
            "dnsquirks",
        )?;
    }

    // Users' files and directories, before the mount targets so that a
    // mount target inside a home directory stays as the mount asks.
    extras::generated(&mut root, input.extras)?;
    extras::files(&mut root, store, input.extras)?;
    extras::dirs(&mut root, store, input.extras)?;

    for (name, target) in input.mount_targets {
        if target.as_bytes().starts_with(store_rel.as_bytes())
            && (target.as_bytes().len() == store_rel.as_bytes().len()
                || target.as_bytes()[store_rel.as_bytes().len()] == b'/')
        {
            return Err(PlanError::MountInStore {
                name: name.clone(),
                path: target.clone(),
                store_dir: store.as_str().to_string(),
            });
        }
        open_path(&mut root, &components(target))?;
        ensure_dir(&mut root, &components(target)).map_err(|(_, origin)| PlanError::MountOnFile {
            name: name.clone(),
            path: target.clone(),
            package: origin.describe(),
        })?;
        if let Some(meta) = input.extras.mounts.get(name) {
            extras::owned_dir(&mut root, store, target, meta, &format!("mount point `{name}`"))?;
        }
    }

    // The store: every closure path, whole (fat) or as a placeholder (thin).
    open_path(&mut root, &store_comps)?;
    let store_dir = ensure_dir(&mut root, &store_comps).map_err(|(i, origin)| PlanError::Collision {
        path: ImagePath::new(store_comps[..=i].join(&b'/')).expect("valid"),
        first: origin.describe(),
        second: "mkaci (the store directory)".into(),
    })?;
    for info in input.closure.paths() {
        let host = store.host_path(&info.path);
        let node = if input.layout == StoreLayout::Thin {
            // A mount target must have the type of its source: bind mounts follow links.
            let meta = std::fs::metadata(&host).map_err(io(&host))?;
            if meta.is_dir() {
                Node::Dir { mode: mode::STORE_DIR, owner: Owner::ROOT }
            } else {
                Node::File { mode: mode::STORE_FILE, owner: Owner::ROOT, source: FileSource::Inline(Vec::new()) }
            }
        } else {
            match info.nar_hash {
                Some(nar_hash) => Node::VerifiedTree { source: host, nar_hash },
                None => Node::HostTree { source: host },
            }
        };
        let leaf = match node {
            Node::Dir { mode, owner } => Tree::Dir { mode, owner, children: BTreeMap::new() },
            node => Tree::Leaf { node, origin: Origin::Mkaci("the closure"), host: None },
        };
        store_dir.insert(info.path.base_name().as_bytes().to_vec(), leaf);
    }
    extras::perms(&mut root, store, input.extras)?;

    let mut plan = Plan::default();
    flatten(&root, &mut Vec::new(), &mut plan.entries);
    debug_assert!(plan.is_ordered());
    Ok(PlannedRootfs { plan, root, store, closure: input.closure })
}

fn flatten(tree: &Tree, at: &mut Vec<u8>, out: &mut Vec<Entry>) {
    let Tree::Dir { children, .. } = tree else { return };
    for (name, child) in children {
        let len = at.len();
        if !at.is_empty() {
            at.push(b'/');
        }
        at.extend_from_slice(name);
        let path = ImagePath::new(at.clone()).expect("names come from directory listings");
        match child {
            Tree::Dir { mode, owner, .. } => {
                out.push(Entry { path, node: Node::Dir { mode: *mode, owner: *owner } });
                flatten(child, at, out);
            }
            Tree::Leaf { node, .. } => out.push(Entry { path, node: node.clone() }),
            Tree::Lazy { src, link, .. } => {
                out.push(Entry { path, node: Node::LinkForest { source: src.clone(), link_base: link.clone() } })
            }
        }
        at.truncate(len);
    }
}

/// What `rest` below a lazy directory is in the image: a directory where the
/// package has one, a link to the package's file where it has anything else.
fn lazy_lookup(src: &Path, link: &[u8], rest: &[Vec<u8>]) -> Option<Kind> {
    let mut host = src.to_path_buf();
    let mut target = link.to_vec();
    for (i, c) in rest.iter().enumerate() {
        host.push(OsStr::from_bytes(c));
        target.push(b'/');
        target.extend_from_slice(c);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if !meta.is_dir() {
            // A link; nothing lies below it in the image.
            return (i + 1 == rest.len()).then_some(Kind::Symlink(target));
        }
    }
    Some(Kind::Dir)
}

/// What a path inside the image is, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { mode: u32 },
    Symlink(Vec<u8>),
}

impl<'a> PlannedRootfs<'a> {
    /// Looks at one image path (components from `/`), not following a final link.
    fn lookup(&self, comps: &[Vec<u8>]) -> Result<Option<Kind>, ResolveProblem> {
        let store_rel = ImagePath::new(self.store.relative()).expect("valid");
        let store_comps = components(&store_rel);
        if comps.len() > store_comps.len() && comps[..store_comps.len()] == store_comps[..] {
            // Inside the store: the closure's paths, as the host has them.
            let base = &comps[store_comps.len()];
            let in_closure = std::str::from_utf8(base)
                .ok()
                .and_then(|b| StorePath::from_base_name(b).ok())
                .filter(|sp| self.closure.contains(sp));
            let Some(sp) = in_closure else {
                return Err(ResolveProblem::NotInClosure { at: display(comps) });
            };
            let mut host = self.store.host_path(&sp);
            for c in &comps[store_comps.len() + 1..] {
                host.push(OsStr::from_bytes(c));
            }
            return Ok(match std::fs::symlink_metadata(&host) {
                Err(_) => None,
                Ok(m) if m.file_type().is_symlink() => Some(Kind::Symlink(
                    std::fs::read_link(&host).map(|t| t.as_os_str().as_bytes().to_vec()).unwrap_or_default(),
                )),
                Ok(m) if m.is_dir() => Some(Kind::Dir),
                Ok(m) => Some(Kind::File { mode: m.permissions().mode() & 0o7777 }),
            });
        }
        let mut cur = &self.root;
        for (i, c) in comps.iter().enumerate() {
            match cur {
                Tree::Dir { children, .. } => match children.get(c) {
                    Some(next) => cur = next,
                    None => return Ok(None),
                },
                Tree::Leaf { .. } => return Ok(None),
                Tree::Lazy { src, link, .. } => return Ok(lazy_lookup(src, link, &comps[i..])),
            }
        }
        Ok(Some(match cur {
            Tree::Dir { .. } | Tree::Lazy { .. } => Kind::Dir,
            Tree::Leaf { node: Node::Symlink { target }, .. } => Kind::Symlink(target.clone()),
            Tree::Leaf { node: Node::File { mode, .. }, .. } => Kind::File { mode: *mode },
            Tree::Leaf { node: Node::Dir { .. } | Node::LinkForest { .. }, .. } => Kind::Dir,
            Tree::Leaf { node: Node::HostTree { source } | Node::VerifiedTree { source, .. }, .. } => {
                match std::fs::metadata(source) {
                    Ok(m) if m.is_dir() => Kind::Dir,
                    Ok(m) => Kind::File { mode: m.permissions().mode() & 0o7777 },
                    Err(_) => return Ok(None),
                }
            }
        }))
    }

    /// Resolves an absolute path inside the image, following the image's symlinks.
    /// Returns the final path and what it is.
    pub fn resolve(&self, path: &str) -> Result<(String, Kind), ResolveProblem> {
        self.walk(path, false)
    }

    /// Follows the image's links only until the path enters the store, and returns
    /// that store path (e.g. `/bin/sh` -> `/nix/store/<hash>-busybox/bin/sh`). The
    /// last component keeps its name, which multi-call binaries such as busybox
    /// dispatch on. Paths that never enter the store come back resolved.
    pub fn resolve_into_store(&self, path: &str) -> Result<String, ResolveProblem> {
        self.walk(path, true).map(|(p, _)| p)
    }

    fn walk(&self, path: &str, stop_in_store: bool) -> Result<(String, Kind), ResolveProblem> {
        if !path.starts_with('/') {
            return Err(ResolveProblem::NotAbsolute);
        }
        let store_comps = components(&ImagePath::new(self.store.relative()).expect("valid"));
        let mut pending: Vec<Vec<u8>> = split(path.as_bytes());
        pending.reverse();
        let mut cur: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if stop_in_store && cur.len() > store_comps.len() && cur[..store_comps.len()] == store_comps[..] {
                pending.push(c);
                cur.extend(pending.into_iter().rev());
                return Ok((display(&cur), Kind::Dir));
            }
            if c == b".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            match self.lookup(&cur)? {
                None => return Err(ResolveProblem::NotFound { at: display(&cur) }),
                Some(Kind::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(ResolveProblem::SymlinkLoop { at: display(&cur) });
                    }
                    cur.pop();
                    if target.starts_with(b"/") {
                        cur.clear();
                    }
                    pending.extend(split(&target).into_iter().rev());
                }
                Some(Kind::Dir) => {}
                Some(Kind::File { .. }) if !pending.is_empty() => {
                    return Err(ResolveProblem::NotADirectory { at: display(&cur) })
                }
                Some(Kind::File { .. }) => {}
            }
        }
        let kind = self.lookup(&cur)?.unwrap_or(Kind::Dir);
        Ok((display(&cur), kind))
    }

    /// The contents of the regular file `path` resolves to in the image
    /// (following its links), or `None` when it does not resolve to one.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, PlanError> {
        Ok(self.read_file_head(path, u64::MAX)?.map(|(_, bytes)| bytes))
    }

    /// At most the first `max` bytes of the regular file `path` resolves to,
    /// with the path it resolves to, or `None` when it does not resolve to a
    /// regular file.
    pub fn read_file_head(&self, path: &str, max: u64) -> Result<Option<(String, Vec<u8>)>, PlanError> {
        let Ok((at, Kind::File { .. })) = self.resolve(path) else { return Ok(None) };
        let comps = split(at.as_bytes());
        let store_comps = components(&ImagePath::new(self.store.relative()).expect("valid"));
        let read = |p: &Path| {
            let mut out = Vec::new();
            std::fs::File::open(p)
                .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, max), &mut out))
                .map(|_| Some((at.clone(), out)))
                .map_err(io(p))
        };
        if comps.len() > store_comps.len() && comps[..store_comps.len()] == store_comps[..] {
            let mut host = PathBuf::from(self.store.as_str());
            for c in &comps[store_comps.len()..] {
                host.push(OsStr::from_bytes(c));
            }
            return read(&host);
        }
        let mut cur = &self.root;
        for c in &comps {
            match cur {
                Tree::Dir { children, .. } => match children.get(c) {
                    Some(next) => cur = next,
                    None => return Ok(None),
                },
                _ => return Ok(None),
            }
        }
        match cur {
            Tree::Leaf { node: Node::File { source: FileSource::Inline(b), .. }, .. } => {
                Ok(Some((at.clone(), b[..b.len().min(usize::try_from(max).unwrap_or(usize::MAX))].to_vec())))
            }
            Tree::Leaf { node: Node::File { source: FileSource::Host { path, .. }, .. }, .. } => read(path),
            _ => Ok(None),
        }
    }

    /// `exec[0]` must resolve to an executable regular file in the image.
    pub fn check_exec(&self, exec0: &str) -> Result<(), PlanError> {
        let err = |problem| PlanError::Resolve { field: "exec[0]", value: exec0.to_string(), problem };
        match self.resolve(exec0).map_err(err)? {
            (at, Kind::Dir) => Err(err(ResolveProblem::IsADirectory { at })),
            (at, Kind::File { mode }) if mode & 0o111 == 0 => Err(err(ResolveProblem::NotExecutable { at, mode })),
            _ => Ok(()),
        }
    }

    /// `workingDirectory`, when given, must resolve to a directory in the image.
    pub fn check_working_directory(&self, dir: &str) -> Result<(), PlanError> {
        let err = |problem| PlanError::Resolve { field: "workingDirectory", value: dir.to_string(), problem };
        match self.resolve(dir).map_err(err)? {
            (_, Kind::Dir) => Ok(()),
            (at, _) => Err(err(ResolveProblem::NotADirectory { at })),
        }
    }
}

fn split(p: &[u8]) -> Vec<Vec<u8>> {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").map(|c| c.to_vec()).collect()
}

fn display(comps: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::plan::{ExtraDir, ExtraFile, GeneratedFile, Meta, Perm};
    use crate::nix::closure::RawPathInfo;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _tmp: tempfile::TempDir,
        store: StoreDir,
        paths: Vec<StorePath>,
        closure: Closure,
    }

    const HASHES: [&str; 4] = [
        "00000000000000000000000000000000",
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
    ];

    /// Store paths: 0 = busybox (bin/busybox exec, bin/sh -> busybox, etc/profile),
    /// 1 = tools (bin/tool -> /<store>/2-lib/libexec/tool, etc/motd -> ../share/motd,
    /// share/motd, lib/x.so), 2 = lib (libexec/tool exec, libexec/data not exec),
    /// 3 = single file.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let sd = tmp.path().join("nix/store");
        std::fs::create_dir_all(&sd).unwrap();
        let store = StoreDir::new(sd.to_str().unwrap()).unwrap();
        let names = ["busybox", "tools", "lib", "file"];
        let paths: Vec<StorePath> =
            HASHES.iter().zip(names).map(|(h, n)| StorePath::from_base_name(&format!("{h}-{n}")).unwrap()).collect();
        let p = |i: usize, rel: &str| store.host_path(&paths[i]).join(rel);
        let write = |path: PathBuf, data: &str, mode: u32| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(p(0, "bin/busybox"), "#!busybox", 0o555);
        symlink("busybox", p(0, "bin/sh")).unwrap();
        write(p(0, "etc/profile"), "export A=1\n", 0o444);
        write(p(2, "libexec/tool"), "tool", 0o555);
        write(p(2, "libexec/data"), "data", 0o444);
        std::fs::create_dir_all(p(1, "bin")).unwrap();
        symlink(store.host_path(&paths[2]).join("libexec/tool"), p(1, "bin/tool")).unwrap();
        write(p(1, "share/motd"), "hello", 0o444);
        std::fs::create_dir_all(p(1, "etc")).unwrap();
        symlink("../share/motd", p(1, "etc/motd")).unwrap();
        write(p(1, "lib/x.so"), "so", 0o444);
        write(store.host_path(&paths[3]), "single", 0o444);
        let raw: Vec<RawPathInfo> = paths
            .iter()
            .map(|sp| RawPathInfo { path: store.display(sp), nar_hash: None, nar_size: None, references: vec![] })
            .collect();
        let closure = Closure::from_raw(&store, &raw).unwrap();
        Fixture { _tmp: tmp, store, paths, closure }
    }

    fn plan<'a>(
        f: &'a Fixture,
        pkgs: &'a [StorePath],
        layout: StoreLayout,
        mounts: &'a [(String, ImagePath)],
    ) -> Result<PlannedRootfs<'a>, PlanError> {
        static NONE: Extras = Extras {
            generated: Vec::new(),
            dirs: Vec::new(),
            files: Vec::new(),
            mounts: BTreeMap::new(),
            perms: Vec::new(),
        };
        plan_with(f, pkgs, layout, mounts, &NONE)
    }

    fn plan_with<'a>(
        f: &'a Fixture,
        pkgs: &'a [StorePath],
        layout: StoreLayout,
        mounts: &'a [(String, ImagePath)],
        extras: &'a Extras,
    ) -> Result<PlannedRootfs<'a>, PlanError> {
        plan_rootfs(&PlanInput {
            store: &f.store,
            closure: &f.closure,
            packages: pkgs,
            layout,
            dnsquirks: true,
            mount_targets: mounts,
            extras,
        })
    }

    /// A link forest as the eager merge would have planned it, entry by entry.
    fn expand_forest(path: &ImagePath, src: &Path, link: &[u8], out: &mut Vec<Entry>) {
        out.push(Entry { path: path.clone(), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } });
        let mut names: Vec<_> = std::fs::read_dir(src).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for n in names {
            let (p, h) = (path.join(n.as_bytes()).unwrap(), src.join(&n));
            let l = [link, b"/", n.as_bytes()].concat();
            if std::fs::symlink_metadata(&h).unwrap().is_dir() {
                expand_forest(&p, &h, &l, out);
            } else {
                out.push(Entry { path: p, node: Node::Symlink { target: l } });
            }
        }
    }

    /// Ownership in a listing: nothing for root's.
    fn own(o: &Owner) -> String {
        if *o == Owner::ROOT {
            String::new()
        } else {
            format!(" {}:{}", o.uid, o.gid)
        }
    }

    fn listing(p: &Plan) -> Vec<String> {
        let mut entries = Vec::new();
        for e in &p.entries {
            match &e.node {
                Node::LinkForest { source, link_base } => expand_forest(&e.path, source, link_base, &mut entries),
                _ => entries.push(e.clone()),
            }
        }
        entries
            .iter()
            .map(|e| {
                let kind = match &e.node {
                    Node::Dir { mode, owner } => format!("d{mode:o}{}", own(owner)),
                    Node::File { mode, owner, source } => format!("f{mode:o}{}:{}", own(owner), source.size()),
                    Node::Symlink { target } => format!("l->{}", String::from_utf8_lossy(target)),
                    Node::HostTree { .. } => "tree".into(),
                    Node::VerifiedTree { .. } => "verified tree".into(),
                    Node::LinkForest { .. } => unreachable!("expanded by the caller"),
                };
                format!("{} {kind}", e.path)
            })
            .collect()
    }

    #[test]
    fn fat_plan_merges_packages_and_orders_entries() {
        let f = fixture();
        let pkgs = [f.paths[0].clone(), f.paths[1].clone()];
        let mounts = [("data".to_string(), ImagePath::new("var/data").unwrap())];
        let r = plan(&f, &pkgs, StoreLayout::Fat, &mounts).unwrap();
        let sd = f.store.as_str().to_string();
        let l = listing(&r.plan);
        let rel = f.store.relative();
        let s = |i: usize| f.paths[i].base_name().to_string();
        let mut expected = vec![
            "/bin d755".to_string(),
            format!("/bin/busybox l->{sd}/{}/bin/busybox", s(0)),
            format!("/bin/sh l->{sd}/{}/bin/sh", s(0)),
            format!("/bin/tool l->{sd}/{}/bin/tool", s(1)),
            "/etc d755".into(),
            format!("/etc/hosts f644:{}", DNSQUIRKS_HOSTS.len()),
            "/etc/motd f644:5".into(),
            "/etc/profile f644:11".into(),
            "/lib d755".into(),
            format!("/lib/x.so l->{sd}/{}/lib/x.so", s(1)),
        ];
        // The store directory's own components, then the closure, then the rest.
        let comps: Vec<&str> = rel.split('/').collect();
        let mut store_entries = Vec::new();
        for i in 0..comps.len() {
            // (tempdirs live under /tmp, which is already listed with its own mode)
            if comps[..=i] != ["tmp"] {
                store_entries.push(format!("/{} d755", comps[..=i].join("/")));
            }
        }
        for i in 0..4 {
            store_entries.push(format!("/{rel}/{} tree", s(i)));
        }
        let mut rest = vec![
            format!("/share d755"),
            format!("/share/motd l->{sd}/{}/share/motd", s(1)),
            "/tmp d1777".into(),
            "/var d755".into(),
            "/var/data d755".into(),
        ];
        expected.append(&mut store_entries);
        expected.append(&mut rest);
        // The temp dir's first component sorts among the others; compare as sets
        // and check the order separately.
        let mut a = l.clone();
        a.sort();
        expected.sort();
        assert_eq!(a, expected);
        assert!(r.plan.is_ordered());
    }

    #[test]
    fn thin_plan_has_typed_placeholders() {
        let f = fixture();
        let pkgs = [f.paths[0].clone()];
        let r = plan(&f, &pkgs, StoreLayout::Thin, &[]).unwrap();
        let l = listing(&r.plan);
        let rel = f.store.relative();
        assert!(l.contains(&format!("/{rel}/{} d555", f.paths[0].base_name())));
        assert!(l.contains(&format!("/{rel}/{} f444:0", f.paths[3].base_name())));
    }

    #[test]
    fn exec_resolves_through_image_links() {
        let f = fixture();
        let pkgs = [f.paths[0].clone(), f.paths[1].clone()];
        for layout in [StoreLayout::Fat, StoreLayout::Thin] {
            let r = plan(&f, &pkgs, layout, &[]).unwrap();
            r.check_exec("/bin/sh").unwrap();
            r.check_exec("/bin/tool").unwrap();
            r.check_exec("/bin/../bin/./busybox").unwrap();
            r.check_working_directory("/tmp").unwrap();
            r.check_working_directory("/bin").unwrap();
            let problem = |e: PlanError| match e {
                PlanError::Resolve { problem, .. } => problem,
                other => panic!("{other:?}"),
            };
            assert_eq!(problem(r.check_exec("bin/sh").unwrap_err()), ResolveProblem::NotAbsolute);
            assert!(
                matches!(problem(r.check_exec("/bin/nope").unwrap_err()), ResolveProblem::NotFound { at } if at == "/bin/nope")
            );
            assert!(matches!(problem(r.check_exec("/bin").unwrap_err()), ResolveProblem::IsADirectory { .. }));
            assert!(matches!(
                problem(r.check_exec("/etc/motd").unwrap_err()),
                ResolveProblem::NotExecutable { mode: 0o644, .. }
            ));
            assert!(matches!(problem(r.check_exec("/bin/sh/x").unwrap_err()), ResolveProblem::NotADirectory { .. }));
            assert!(matches!(
                problem(r.check_working_directory("/etc/hosts").unwrap_err()),
                ResolveProblem::NotADirectory { .. }
            ));
            let outside = format!("{}/44444444444444444444444444444444-x/bin/sh", f.store.as_str());
            assert!(matches!(problem(r.check_exec(&outside).unwrap_err()), ResolveProblem::NotInClosure { .. }));
        }
    }

    #[test]
    fn symlink_loops_are_reported() {
        let f = fixture();
        let loopy = f.store.host_path(&f.paths[1]).join("bin/loop");
        symlink("loop", &loopy).unwrap();
        let pkgs = [f.paths[1].clone()];
        let r = plan(&f, &pkgs, StoreLayout::Fat, &[]).unwrap();
        match r.check_exec("/bin/loop").unwrap_err() {
            PlanError::Resolve { problem: ResolveProblem::SymlinkLoop { .. }, .. } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn collisions_name_both_packages() {
        let f = fixture();
        // Same file with different contents.
        let other = f.store.host_path(&f.paths[2]).join("bin");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("busybox"), "other").unwrap();
        let pkgs = [f.paths[0].clone(), f.paths[2].clone()];
        match plan(&f, &pkgs, StoreLayout::Fat, &[]) {
            Err(PlanError::Collision { path, first, second }) => {
                assert_eq!(path.to_string(), "/bin/busybox");
                assert_eq!(first, f.store.display(&f.paths[0]));
                assert_eq!(second, f.store.display(&f.paths[2]));
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("collision not detected"),
        }
        // Identical contents are not a collision.
        std::fs::write(other.join("busybox"), "#!busybox").unwrap();
        std::fs::set_permissions(other.join("busybox"), std::fs::Permissions::from_mode(0o555)).unwrap();
        assert!(plan(&f, &pkgs, StoreLayout::Fat, &[]).is_ok());
    }

    fn ip(s: &str) -> ImagePath {
        ImagePath::new(s).unwrap()
    }

    fn owned(uid: u32, gid: u32, mode: Option<u32>) -> Meta {
        Meta { uid: Some(uid), gid: Some(gid), mode }
    }

    #[test]
    fn extras_give_owners_outside_the_store() {
        let f = fixture();
        let pkgs = [f.paths[0].clone(), f.paths[1].clone()];
        let mounts = [("data".to_string(), ip("srv/data"))];
        // A directory to copy: conf/app.conf, conf/run (executable), conf/link.
        let src = f._tmp.path().join("conf");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("app.conf"), "x=1\n").unwrap();
        std::fs::write(src.join("run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(src.join("run"), std::fs::Permissions::from_mode(0o555)).unwrap();
        symlink("app.conf", src.join("link")).unwrap();
        let extras = Extras {
            generated: vec![GeneratedFile {
                path: ip("etc/passwd"),
                bytes: b"root:x:0:0::/:/bin/sh\n".to_vec(),
                what: "users".into(),
                if_absent: false,
            }],
            dirs: vec![ExtraDir {
                path: ip("home/app"),
                meta: owned(1000, 100, Some(0o700)),
                what: "users.app.home".into(),
            }],
            files: vec![
                ExtraFile {
                    path: ip("etc/app"),
                    source: src.clone(),
                    meta: owned(1000, 100, None),
                    what: "files".into(),
                },
                ExtraFile {
                    path: ip("etc/one.conf"),
                    source: src.join("app.conf"),
                    meta: Meta { mode: Some(0o600), ..Meta::default() },
                    what: "files".into(),
                },
            ],
            mounts: [("data".to_string(), owned(1000, 100, Some(0o750)))].into(),
            perms: vec![
                Perm { path: ip("bin"), meta: owned(5, 5, None), recursive: false, what: "perms[0]".into() },
                Perm { path: ip("etc"), meta: owned(7, 7, Some(0o751)), recursive: false, what: "perms[1]".into() },
                Perm {
                    path: ip("etc/profile"),
                    meta: owned(8, 8, Some(0o640)),
                    recursive: true,
                    what: "perms[2]".into(),
                },
            ],
        };
        for layout in [StoreLayout::Fat, StoreLayout::Thin] {
            let r = plan_with(&f, &pkgs, layout, &mounts, &extras).unwrap();
            assert!(r.plan.is_ordered());
            let l = listing(&r.plan);
            for want in [
                "/bin d755 5:5",
                "/etc d751 7:7",
                "/etc/app d755 1000:100",
                "/etc/app/app.conf f644 1000:100:4",
                "/etc/app/link l->app.conf",
                "/etc/app/run f755 1000:100:10",
                "/etc/one.conf f600:4",
                "/etc/passwd f644:22",
                "/etc/profile f640 8:8:11",
                "/home d755",
                "/home/app d700 1000:100",
                "/srv/data d750 1000:100",
            ] {
                assert!(l.iter().any(|x| x == want), "{layout:?}: no {want} in {l:#?}");
            }
            // Links into the store stay root's links; the store is untouched.
            let sd = f.store.as_str();
            assert!(l.contains(&format!("/bin/busybox l->{sd}/{}/bin/busybox", f.paths[0].base_name())));
            assert_eq!(r.read_file("/etc/passwd").unwrap().unwrap(), b"root:x:0:0::/:/bin/sh\n");
            assert_eq!(r.read_file("/etc/app/link").unwrap().unwrap(), b"x=1\n");
            assert_eq!(r.read_file("/etc/motd").unwrap().unwrap(), b"hello");
            assert_eq!(r.read_file("/etc/nope").unwrap(), None);
            assert_eq!(r.read_file("/etc").unwrap(), None);
        }
        // Without extras everything is root's.
        let r = plan(&f, &pkgs, StoreLayout::Fat, &mounts).unwrap();
        assert!(r.plan.entries.iter().all(|e| match &e.node {
            Node::Dir { owner, .. } | Node::File { owner, .. } => *owner == Owner::ROOT,
            _ => true,
        }));
    }

    #[test]
    fn extras_refusals_name_both_sides() {
        let f = fixture();
        let pkgs = [f.paths[0].clone(), f.paths[1].clone()];
        let sd = f.store.relative().to_string();
        let perm = |path: &str, recursive| Extras {
            perms: vec![Perm { path: ip(path), meta: owned(1, 1, None), recursive, what: "perms[0]".into() }],
            ..Extras::default()
        };
        let run = |x: &Extras| plan_with(&f, &pkgs, StoreLayout::Fat, &[], x).err().expect("refused");
        let in_store = format!("{sd}/{}/bin", f.paths[0].base_name());
        assert!(matches!(run(&perm(&in_store, false)), PlanError::InStore { what, .. } if what == "perms[0]"));
        let top = sd.split('/').next().unwrap();
        assert!(matches!(run(&perm(top, true)), PlanError::RecursiveOverStore { .. }));
        assert!(plan_with(&f, &pkgs, StoreLayout::Fat, &[], &perm(top, false)).is_ok());
        assert!(matches!(run(&perm("bin/busybox", false)), PlanError::PermOnLink { .. }));
        assert!(matches!(run(&perm("srv", false)), PlanError::PermNotFound { .. }));
        // files over a package's file, over dnsquirks' /etc/hosts, below a file.
        let file = |path: &str| Extras {
            files: vec![ExtraFile {
                path: ip(path),
                source: f.store.host_path(&f.paths[3]),
                meta: Meta::default(),
                what: format!("files.\"/{path}\""),
            }],
            ..Extras::default()
        };
        match run(&file("etc/profile")) {
            PlanError::Conflict { path, first, second } => {
                assert_eq!(path, ip("etc/profile"));
                assert_eq!(first, f.store.display(&f.paths[0]));
                assert!(second.starts_with("files.\"/etc/profile\" (") && second.contains("-file"), "{second}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(run(&file("etc/hosts")), PlanError::Conflict { first, .. } if first == "mkaci (dnsquirks)"));
        assert!(matches!(run(&file("bin/sh/x")), PlanError::Conflict { .. }));
        assert!(matches!(run(&file(&in_store)), PlanError::InStore { .. }));
        // A generated /etc/profile where a package has one.
        let gen = Extras {
            generated: vec![GeneratedFile {
                path: ip("etc/profile"),
                bytes: vec![],
                what: "users".into(),
                if_absent: false,
            }],
            ..Extras::default()
        };
        assert!(matches!(run(&gen), PlanError::Conflict { second, .. } if second == "users"));
        let mut absent = gen.clone();
        absent.generated[0].if_absent = true;
        let r = plan_with(&f, &pkgs, StoreLayout::Fat, &[], &absent).unwrap();
        assert_eq!(r.read_file("/etc/profile").unwrap().unwrap(), b"export A=1\n");
    }

    #[test]
    fn mount_errors() {
        let f = fixture();
        let pkgs = [f.paths[0].clone()];
        let on_file = [("m".to_string(), ImagePath::new("bin/sh/x").unwrap())];
        assert!(matches!(plan(&f, &pkgs, StoreLayout::Fat, &on_file), Err(PlanError::MountOnFile { .. })));
        let in_store = [("m".to_string(), ImagePath::new(format!("{}/x", f.store.relative())).unwrap())];
        assert!(matches!(plan(&f, &pkgs, StoreLayout::Fat, &in_store), Err(PlanError::MountInStore { .. })));
        let not_in_closure = [StorePath::from_base_name("44444444444444444444444444444444-x").unwrap()];
        assert!(matches!(plan(&f, &not_in_closure, StoreLayout::Fat, &[]), Err(PlanError::PackageNotInClosure { .. })));
    }
}
