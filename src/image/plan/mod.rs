//! The root filesystem plan: what goes where under `rootfs/`, shared by fat and thin
//! images and independent of how it is written (ACI tar today; later one dependency
//! ACI per store path, or an OCI layout).
//!
//! A [`Plan`] is a list of [`Entry`]s in archive order: a depth-first walk with
//! siblings in byte order of their names, parents before children. A
//! [`Node::HostTree`] stands for a whole host tree (a store path) that the writer
//! expands lazily in the same order, so the plan stays small however big the
//! closure is.

use std::fmt;
use std::path::PathBuf;

use crate::nix::nar::NarHash;

mod build;
pub mod store;
pub use build::*;

/// A path inside the rootfs: relative, `/`-separated, no empty, `.` or `..`
/// components. Raw bytes, because store paths may hold non-UTF-8 names.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImagePath(Vec<u8>);

impl ImagePath {
    /// Parses a relative path; returns `None` if a component is empty, `.` or `..`,
    /// or if the path is empty.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = bytes.into();
        let ok = !bytes.is_empty()
            && bytes.split(|&b| b == b'/').all(|c| !c.is_empty() && c != b"." && c != b".." && !c.contains(&0));
        ok.then_some(ImagePath(bytes))
    }

    /// Parses an absolute path in the image (`/etc/hosts`) into its relative form.
    pub fn from_absolute(abs: &str) -> Option<Self> {
        abs.strip_prefix('/').and_then(|r| Self::new(r.trim_end_matches('/')))
    }

    /// The relative form of a validated absolute path; `None` for `/` itself.
    pub fn from_abs_path(abs: &crate::image::manifest::AbsPath) -> Option<Self> {
        Self::from_absolute(abs.as_str())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/')
    }

    pub fn join(&self, name: &[u8]) -> Option<Self> {
        let mut v = self.0.clone();
        v.push(b'/');
        v.extend_from_slice(name);
        Self::new(v)
    }

    pub fn parent(&self) -> Option<Self> {
        let i = self.0.iter().rposition(|&b| b == b'/')?;
        Some(ImagePath(self.0[..i].to_vec()))
    }

    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", String::from_utf8_lossy(&self.0))
    }
}

/// Where an image's store paths are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreLayout {
    /// Every store path of the closure is inside the image.
    Fat,
    /// No store contents: each store path is a typed placeholder that the
    /// runtime covers with a read-only host mount.
    Thin,
    /// No store contents in the image itself: each store path is in a
    /// dependency image (its own, or a declared layer's) that the runtime
    /// renders below it. Planned as [`StoreLayout::Fat`], then split.
    Layered,
}

impl StoreLayout {
    /// The name used in the result index and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreLayout::Fat => "fat",
            StoreLayout::Thin => "thin",
            StoreLayout::Layered => "layered",
        }
    }
}

/// Modes as the Nix store has them, and the few skeleton modes we choose.
pub mod mode {
    /// Store directories and executables.
    pub const STORE_DIR: u32 = 0o555;
    pub const STORE_EXEC: u32 = 0o555;
    pub const STORE_FILE: u32 = 0o444;
    /// Directories mkaci creates (`/bin`, `/etc`, mount targets, ...).
    pub const DIR: u32 = 0o755;
    /// Files mkaci writes or copies out of the store into `/etc`: writable by root,
    /// because runtimes rewrite `/etc/hosts` and `/etc/resolv.conf`.
    pub const ETC_FILE: u32 = 0o644;
    pub const ETC_EXEC: u32 = 0o755;
    /// `/tmp`: sticky and world-writable.
    pub const TMP: u32 = 0o1777;
    pub const SYMLINK: u32 = 0o777;
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// Bytes mkaci generates (`/etc/hosts`, an empty placeholder).
    Inline(Vec<u8>),
    /// A file on the host, streamed when written. `size` is its size when planned.
    Host { path: PathBuf, size: u64 },
}

impl FileSource {
    pub fn size(&self) -> u64 {
        match self {
            FileSource::Inline(b) => b.len() as u64,
            FileSource::Host { size, .. } => *size,
        }
    }
}

/// Who owns an entry in the tar headers: numeric ids (the user and group
/// names stay empty). Store contents and everything mkaci creates belong to
/// root; `users` (home directories), `perms`, `files` and owned mount targets
/// give other owners, never inside the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
        owner: Owner,
    },
    File {
        mode: u32,
        owner: Owner,
        source: FileSource,
    },
    /// Stored as a symlink, never followed. Raw target bytes.
    Symlink {
        target: Vec<u8>,
    },
    /// A host tree (a store path: directory, file or symlink) copied faithfully:
    /// the writer walks it depth-first, siblings in byte order, never following
    /// links, with store modes (dirs 0555, files 0444 or 0555, links 0777).
    HostTree {
        source: PathBuf,
    },
    /// A host tree written exactly as [`Node::HostTree`], whose NAR
    /// serialisation must hash to `nar_hash` (what Nix recorded for the store
    /// path). The writer hashes it while it reads the files and fails on a
    /// mismatch.
    VerifiedTree {
        source: PathBuf,
        nar_hash: NarHash,
    },
    /// A directory mkaci makes (mode [`mode::DIR`]) mirroring the host
    /// directory `source` of one package, as a package merge makes it:
    /// each subdirectory is such a directory again, anything else a symlink
    /// to `link_base/<its path below source>`. The writer expands it lazily,
    /// depth-first, siblings in byte order, so a package's big tree never
    /// has to be planned entry by entry.
    LinkForest {
        source: PathBuf,
        link_base: Vec<u8>,
    },
}

/// Ownership and mode given to an entry outside the store; `None` keeps
/// what the entry has (root's, and the mode of [`mode`]'s rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Permission bits, at most `0o7777`.
    pub mode: Option<u32>,
}

impl Meta {
    /// `owner` and `mode` with this meta's overrides.
    pub fn apply(&self, owner: Owner, mode: u32) -> (Owner, u32) {
        let owner = Owner { uid: self.uid.unwrap_or(owner.uid), gid: self.gid.unwrap_or(owner.gid) };
        (owner, self.mode.unwrap_or(mode))
    }
}

/// What goes into the rootfs besides the packages, `/etc/hosts`, `/tmp` and
/// the mount targets: generated `/etc` files (`/etc/passwd`, ...), directories
/// (home directories), copied files, the ownership of mount targets and
/// `perms` entries. Each item names the argument it comes from (`what`), for
/// messages. The default adds nothing: the plan is what it was without them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub generated: Vec<GeneratedFile>,
    pub dirs: Vec<ExtraDir>,
    pub files: Vec<ExtraFile>,
    /// Ownership and mode of mount targets, by mount point name.
    pub mounts: std::collections::BTreeMap<String, Meta>,
    /// Applied last, in order: a later entry wins.
    pub perms: Vec<Perm>,
}

impl Extras {
    pub fn is_empty(&self) -> bool {
        self == &Extras::default()
    }
}

/// A file mkaci generates (mode 0644, root's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: ImagePath,
    pub bytes: Vec<u8>,
    pub what: String,
    /// Written only when the packages do not provide the path (else the
    /// package's file stays); otherwise a package's file there is a conflict.
    pub if_absent: bool,
}

/// A directory mkaci creates (parents as root's 0755 directories), or whose
/// ownership and mode it sets when a package already has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraDir {
    pub path: ImagePath,
    pub meta: Meta,
    pub what: String,
}

/// A host file or directory copied into the image as real files (not links),
/// owned per `meta` (the whole tree); `meta.mode` is the mode of the top entry
/// (default 0644 or 0755 for files by their execute bit, 0755 for directories).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    pub path: ImagePath,
    pub source: PathBuf,
    pub meta: Meta,
    pub what: String,
}

/// Ownership and mode set on an existing directory or file outside the store,
/// and with `recursive` on everything below it (links excepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perm {
    pub path: ImagePath,
    pub meta: Meta,
    pub recursive: bool,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: ImagePath,
    pub node: Node,
}

/// The rootfs, in archive order. The rootfs directory itself is implicit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub entries: Vec<Entry>,
}

impl Plan {
    /// The same plan with every [`Node::VerifiedTree`] turned into a plain
    /// [`Node::HostTree`]: the store contents are packed without checking
    /// them against their NAR hashes.
    pub fn without_verification(mut self) -> Plan {
        for e in &mut self.entries {
            if let Node::VerifiedTree { source, .. } = &mut e.node {
                e.node = Node::HostTree { source: std::mem::take(source) };
            }
        }
        self
    }

    /// True when entries are in archive order: depth-first, siblings in byte order,
    /// every parent present before its children. The writer debug-asserts this.
    pub fn is_ordered(&self) -> bool {
        self.entries.windows(2).all(|w| archive_order(&w[0].path, &w[1].path).is_lt())
            && self.entries.iter().all(|e| match e.path.parent() {
                None => true,
                Some(p) => self.entries.iter().any(|x| x.path == p && matches!(x.node, Node::Dir { .. })),
            })
    }
}

/// Depth-first order with siblings in byte order: compare component by component.
pub fn archive_order(a: &ImagePath, b: &ImagePath) -> std::cmp::Ordering {
    a.components().cmp(b.components())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths() {
        assert!(ImagePath::new("a/b").is_some());
        for bad in ["", "/a", "a/", "a//b", "a/./b", "a/../b", ".."] {
            assert!(ImagePath::new(bad).is_none(), "{bad}");
        }
        assert_eq!(ImagePath::from_absolute("/etc/hosts"), ImagePath::new("etc/hosts"));
        assert_eq!(ImagePath::from_absolute("/data/"), ImagePath::new("data"));
        assert_eq!(ImagePath::from_absolute("etc"), None);
        let p = ImagePath::new("a/b/c").unwrap();
        assert_eq!(p.parent(), ImagePath::new("a/b"));
        assert_eq!(p.file_name(), b"c");
    }

    #[test]
    fn depth_first_order() {
        let p = |s: &str| ImagePath::new(s).unwrap();
        // "a/b" comes before "a-c": the directory's subtree is finished first.
        assert!(archive_order(&p("a/b"), &p("a-c")).is_lt());
        assert!(archive_order(&p("a"), &p("a/b")).is_lt());
        assert!(archive_order(&p("a-c"), &p("b")).is_lt());
    }
}
