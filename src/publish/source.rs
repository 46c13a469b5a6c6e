//! The files of a result, read as untrusted input. A result is the output of
//! a build, and a build can write any file and any symlink, so postprocess
//! never follows a link out of it:
//!
//! - a file the index lists must be a regular file of the result, or the one
//!   kind of link mkaci makes: a declared layer's file, `RESULT/F ->
//!   <store>/<hash>-<name>/F`, into a store path that is itself a nix2aci
//!   result whose index lists `F` ([`Origin::Layer`]). The link's target must
//!   be a regular file too; nothing else is followed;
//! - an OCI layout must be a directory holding `oci-layout`, `index.json`
//!   and `blobs/sha256/<64 hex>`, regular files and directories only
//!   ([`layout_of_result`]); which blobs its index reaches is checked by the
//!   caller once the layout is read.
//!
//! What was checked is a [`Checked`] file: its real path and its identity
//! (device, inode, size, modification and change times). It is opened
//! without following links, and refused when it is no longer the file that
//! was checked, so a file swapped or rewritten after the check is neither
//! signed nor copied.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::postprocess::PostprocessError;
use crate::result::{FileName, ResultDir};

/// Where a checked file of a result lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// In the result itself.
    Own,
    /// In the result of a declared layer, the store path the result's link
    /// points into.
    Layer(Box<ResultDir>),
}

/// A regular file, checked; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The file itself: no link on the way but the store directory's own.
    pub path: PathBuf,
    identity: Identity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(m: &std::fs::Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

impl Checked {
    /// `path` when it is a regular file (not a link, not a device or FIFO).
    fn regular(path: &Path) -> Result<Checked, PostprocessError> {
        let m = std::fs::symlink_metadata(path).map_err(|e| unreadable(path, e))?;
        if !m.file_type().is_file() {
            return Err(PostprocessError::NotAFile { path: path.to_path_buf(), kind: kind_of(&m) });
        }
        Ok(Checked { path: path.to_path_buf(), identity: Identity::of(&m) })
    }

    /// The regular file at `path` (a link is refused, not followed).
    pub fn file(path: &Path) -> Result<Checked, PostprocessError> {
        Checked::regular(path)
    }

    /// Bytes of the file when it was checked.
    pub fn size(&self) -> u64 {
        self.identity.size
    }

    /// Opens the file without following a link; an error when it is not the
    /// file that was checked any more.
    pub fn open(&self) -> std::io::Result<File> {
        let f = std::fs::OpenOptions::new().read(true).custom_flags(libc_o_nofollow()).open(&self.path)?;
        if Identity::of(&f.metadata()?) != self.identity {
            return Err(changed());
        }
        Ok(f)
    }

    /// Whether the file at the path is still the one that was checked.
    pub fn unchanged(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_file() && Identity::of(&m) == self.identity)
    }

    /// The whole file, when it has at most `limit` bytes.
    pub fn read_limited(&self, limit: u64) -> Result<Vec<u8>, PostprocessError> {
        if self.identity.size > limit {
            return Err(PostprocessError::TooLarge { path: self.path.clone(), size: self.identity.size, limit });
        }
        let mut bytes = Vec::with_capacity(self.identity.size as usize);
        self.open().and_then(|f| f.take(limit + 1).read_to_end(&mut bytes)).map_err(|e| unreadable(&self.path, e))?;
        if bytes.len() as u64 != self.identity.size {
            return Err(unreadable(&self.path, changed()));
        }
        Ok(bytes)
    }
}

fn changed() -> std::io::Error {
    std::io::Error::other("it changed after it was checked")
}

/// `O_NOFOLLOW`, which std has no name for.
fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

fn unreadable(path: &Path, e: std::io::Error) -> PostprocessError {
    PostprocessError::Unreadable { path: path.to_path_buf(), message: e.to_string() }
}

fn kind_of(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The file `file` of the result at `result` (its canonical path), checked;
/// `store_dir` is the Nix store a declared layer's link must point into.
pub fn file_of_result(result: &Path, file: &FileName, store_dir: &Path) -> Result<(Checked, Origin), PostprocessError> {
    let path = result.join(file);
    let m = std::fs::symlink_metadata(&path).map_err(|e| unreadable(&path, e))?;
    if !m.file_type().is_symlink() {
        return Ok((Checked::regular(&path)?, Origin::Own));
    }
    let target = std::fs::read_link(&path).map_err(|e| unreadable(&path, e))?;
    let refuse = |problem: String| PostprocessError::LinkOut {
        path: path.clone(),
        target: target.clone(),
        store: store_dir.to_path_buf(),
        problem,
    };
    // Exactly `<store>/<store path>/<file>`: absolute, no `.` or `..`.
    let plain =
        target.is_absolute() && target.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let layer = target.parent().filter(|p| p.parent() == Some(store_dir));
    let (true, Some(layer), Some(name)) = (plain, layer, target.file_name()) else {
        return Err(refuse("it does not point at a file of a store path".into()));
    };
    if name != file.as_str() {
        return Err(refuse(format!("mkaci links a layer's file under its own name, {file}")));
    }
    if layer == result {
        return Err(refuse("it points back into the result".into()));
    }
    match std::fs::symlink_metadata(layer) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => return Err(refuse(format!("the store path is {}", kind_of(&m)))),
        Err(e) => return Err(refuse(format!("the store path cannot be read: {e}"))),
    }
    let layer_result =
        ResultDir::read(layer).map_err(|e| refuse(format!("the store path is not a nix2aci result: {e}")))?;
    // An ACI's file, or an OCI image's SBOM (which an image index links).
    let listed = layer_result.index.artifacts.iter().any(|a| a.files.all().any(|f| f == file))
        || layer_result.index.oci_layouts.iter().any(|o| o.files.sbom.as_ref() == Some(file));
    if !listed {
        return Err(refuse(format!("the layer's {} does not list {file}", crate::result::INDEX_FILE)));
    }
    let checked = Checked::regular(&target)?;
    Ok((checked, Origin::Layer(Box::new(layer_result))))
}

/// An OCI image layout of a result, checked: the regular files it holds,
/// each with its path relative to the layout (`index.json`,
/// `blobs/sha256/<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLayout {
    pub dir: PathBuf,
    pub files: BTreeMap<String, Checked>,
}

/// The OCI layout `file` of the result at `result`: a directory (not a link)
/// holding `oci-layout`, `index.json` and `blobs/sha256/<64 hex>` only, all
/// regular files and directories, but for the one link mkaci makes: a
/// declared layer's blob, linked to the same blob of the layer's own layout
/// in the store ([`declared_blob`]).
pub fn layout_of_result(result: &Path, file: &FileName, store_dir: &Path) -> Result<CheckedLayout, PostprocessError> {
    let dir = result.join(file);
    let stray = |path: PathBuf, problem: String| PostprocessError::LayoutStray { layout: dir.clone(), path, problem };
    let is_dir = |p: &Path| -> Result<(), PostprocessError> {
        let m = std::fs::symlink_metadata(p).map_err(|e| unreadable(p, e))?;
        if m.is_dir() {
            Ok(())
        } else {
            Err(stray(p.to_path_buf(), format!("it is {}, and a directory goes there", kind_of(&m))))
        }
    };
    is_dir(&dir)?;
    let mut files = BTreeMap::new();
    for name in names(&dir)? {
        let path = dir.join(&name);
        match name.as_str() {
            "oci-layout" | "index.json" => {
                files.insert(name, Checked::regular(&path)?);
            }
            "blobs" => {
                is_dir(&path)?;
                for algo in names(&path)? {
                    let algo_dir = path.join(&algo);
                    if algo != "sha256" {
                        return Err(stray(algo_dir, "mkaci writes sha256 blobs only".into()));
                    }
                    is_dir(&algo_dir)?;
                    for blob in names(&algo_dir)? {
                        let blob_path = algo_dir.join(&blob);
                        if blob.len() != 64 || !blob.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                            return Err(stray(blob_path, "it is not named by a sha256 digest".into()));
                        }
                        let m = std::fs::symlink_metadata(&blob_path).map_err(|e| unreadable(&blob_path, e))?;
                        let checked = if m.file_type().is_symlink() {
                            declared_blob(result, &blob_path, &blob, store_dir)?
                        } else {
                            Checked::regular(&blob_path)?
                        };
                        files.insert(format!("blobs/sha256/{blob}"), checked);
                    }
                }
            }
            _ => return Err(stray(path, "an OCI image layout of mkaci holds no such file".into())),
        }
    }
    for needed in ["oci-layout", "index.json"] {
        if !files.contains_key(needed) {
            return Err(stray(dir.join(needed), "it is missing".into()));
        }
    }
    Ok(CheckedLayout { dir, files })
}

/// A blob of a layout that is a link: only a declared layer's, exactly
/// `<store>/<store path>/<layout>/blobs/sha256/<hex>` with the same `<hex>`,
/// in another store path that is a nix2aci result listing that layout (an
/// `mkLayer`'s `oci`). Its digest is checked like every other blob's when it
/// is read.
fn declared_blob(result: &Path, path: &Path, hex: &str, store_dir: &Path) -> Result<Checked, PostprocessError> {
    let target = std::fs::read_link(path).map_err(|e| unreadable(path, e))?;
    let refuse = |problem: String| PostprocessError::LinkOut {
        path: path.to_path_buf(),
        target: target.clone(),
        store: store_dir.to_path_buf(),
        problem,
    };
    let plain =
        target.is_absolute() && target.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let rel = target.strip_prefix(store_dir).ok().filter(|_| plain);
    let parts: Vec<&std::ffi::OsStr> = rel.map(|r| r.iter().collect()).unwrap_or_default();
    let [store_path, layout, blobs, sha, name] = parts.as_slice() else {
        return Err(refuse("a blob links only to the same blob of a declared layer's layout in the store".into()));
    };
    if *blobs != "blobs" || *sha != "sha256" || *name != hex {
        return Err(refuse(format!("a linked blob must be the layer's blobs/sha256/{hex}")));
    }
    let layer = store_dir.join(store_path);
    if layer == result {
        return Err(refuse("it points back into the result".into()));
    }
    let layer_result =
        ResultDir::read(&layer).map_err(|e| refuse(format!("the store path is not a nix2aci result: {e}")))?;
    let listed = layer_result.index.oci_layouts.iter().any(|o| o.files.layout.as_str() == layout.to_string_lossy());
    if !listed {
        return Err(refuse(format!(
            "the layer's {} lists no layout {}",
            crate::result::INDEX_FILE,
            layout.to_string_lossy()
        )));
    }
    Checked::regular(&target)
}

/// The names in `dir`, sorted; a name that is not UTF-8 is refused.
fn names(dir: &Path) -> Result<Vec<String>, PostprocessError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let e = e.map_err(|e| unreadable(dir, e))?;
        let name = e.file_name().into_string().map_err(|n| PostprocessError::LayoutStray {
            layout: dir.to_path_buf(),
            path: dir.join(&n),
            problem: "its name is not UTF-8".into(),
        })?;
        out.push(name);
    }
    out.sort();
    Ok(out)
}
