//! The one-reading rules for the entries of an OCI image's layer tars, layer
//! after layer, as `mkaci verify` and `mkaci inspect` apply them (the tar
//! headers themselves are read by [`crate::check::tar`]). `docs/oci.md`
//! gives the rules and why; in short, an entry is refused when:
//!
//! - its type is not a file, hard link, symlink, device, directory or FIFO
//!   (a PAX global header, a GNU sparse file, ...);
//! - its name is absolute or holds a `..` component;
//! - two entries of one layer name the same path once normalised;
//! - it lies below something that is not a directory: in its own layer, or
//!   in the image the layers below make (a symlink an earlier layer made,
//!   not whited out since), which containerd resolves inside the root file
//!   system and other extractors follow out of it;
//! - it is a whiteout (`.wh.NAME`) that is not a regular file, an AUFS
//!   meta file (`.wh..wh.*` other than the opaque marker `.wh..wh..opq`),
//!   or one whose path this layer also holds (or holds something below):
//!   the OCI spec says a whiteout hides lower layers only, containerd and
//!   Docker remove what the same layer made before it;
//! - it lies below a path this layer whites out;
//! - it is a hard link whose target is not an earlier file (of this layer
//!   or one below), or is a directory.
//!
//! Memory is bounded by the caller's entry limit: every entry, whiteout and
//! directory implied by a name without its own entry counts towards it,
//! each kept as the first 16 bytes of its path's SHA-256.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::check::tar::TarEntry;

/// Most components a name may have: a path of more cannot be opened on
/// Linux (`PATH_MAX` is 4096 bytes, so 2048 one-byte components), and each
/// component costs a lookup.
pub const MAX_DEPTH: usize = 2048;

/// The opaque whiteout: the directory it is in hides what lower layers hold
/// in it.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of a whiteout's file name.
pub const WHITEOUT: &[u8] = b".wh.";

/// Why a layer entry was refused. Each message names the entry and why two
/// readers would unpack it differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerRuleError {
    #[error(
        "entry {name:?} has tar type {kind:?}; a layer holds files, hard links, symlinks, devices, \
         directories and FIFOs only (a PAX global header or a sparse file is read differently by \
         different tools)"
    )]
    UnsupportedType { name: String, kind: char },
    #[error("entry {name:?} has an absolute name; layer entries are relative to the root file system")]
    AbsoluteName { name: String },
    #[error("entry {name:?} contains \"..\"; layer entries must stay inside the root file system")]
    DotDot { name: String },
    #[error("entry {name:?} has {depth} path components; at most {MAX_DEPTH} are read (Linux opens none deeper)")]
    TooDeep { name: String, depth: usize },
    #[error("entry {name:?} names a path this layer already holds; readers keep the first or the last")]
    Duplicate { name: String },
    #[error(
        "entry {name:?} lies below {parent:?}, which is a {kind} in this layer: an extractor would write \
         through it (a symlink leads anywhere) or fail"
    )]
    BelowNonDirectory { name: String, parent: String, kind: &'static str },
    #[error(
        "entry {name:?} lies below {parent:?}, which layer {layer} made a {kind}: containerd resolves the \
         path inside the root file system, other extractors follow it out, or fail"
    )]
    BelowLowerNonDirectory { name: String, parent: String, kind: &'static str, layer: u32 },
    #[error("the whiteout {name:?} is a {kind}; a whiteout is an empty regular file")]
    WhiteoutNotFile { name: String, kind: &'static str },
    #[error(
        "entry {name:?} is an AUFS meta file (.wh..wh.*); only the opaque whiteout .wh..wh..opq is part of \
         the OCI layer format, and tools differ on the others"
    )]
    AufsMeta { name: String },
    #[error(
        "the whiteout {name:?} hides {target:?}, which this layer also holds (or holds something below): \
         the OCI spec says a whiteout hides lower layers only, containerd and Docker remove what this \
         layer made before it"
    )]
    WhiteoutOfSameLayer { name: String, target: String },
    #[error("entry {name:?} lies below {parent:?}, which this layer whites out; readers differ on which comes first")]
    BelowOwnWhiteout { name: String, parent: String },
    #[error("hard link {name:?} points to {target:?}, which is no earlier file of this layer or one below")]
    HardLinkTargetMissing { name: String, target: String },
    #[error("hard link {name:?} points to {target:?}, which is a directory; hard links to directories cannot be made")]
    HardLinkToDirectory { name: String, target: String },
    #[error(
        "the image has more than {limit} entries and implied directories; mkaci stops there to bound its \
         memory (raise the limit with the environment variable MKACI_MAX_ENTRIES=N if the image is genuine)"
    )]
    TooManyEntries { limit: u64 },
}

type Key = [u8; 16];

fn key_of(hasher: Sha256) -> Key {
    let d = hasher.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

fn key(name: &[u8]) -> Key {
    key_of(Sha256::new_with_prefix(name))
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What an entry of type `t` is, in words: a tar type, or `w`, the type
/// these rules give a whiteout.
fn kind_name(t: u8) -> &'static str {
    if t == b'w' {
        "whiteout"
    } else {
        super::tar::kind_name(t)
    }
}

/// The state of the rules across the layers of one image.
pub struct LayerRules {
    /// The layer being read, from 1.
    layer: u32,
    /// This layer's entries (and whiteouts, as `w`).
    this: HashMap<Key, u8>,
    /// Directories implied by this layer's names (no entry of their own).
    implied: HashSet<Key>,
    /// The layers below, merged: each path's kind and the layer that made it.
    below: HashMap<Key, (u8, u32)>,
    /// Paths whited out, with the last layer that did it.
    whiteouts: HashMap<Key, u32>,
    /// Directories made opaque, with the last layer that did it.
    opaque: HashMap<Key, u32>,
    /// Keys held, against `limit`.
    held: u64,
    limit: u64,
}

impl LayerRules {
    /// Rules for an image of at most `limit` entries, implied directories
    /// and whiteouts together.
    pub fn new(limit: u64) -> LayerRules {
        LayerRules {
            layer: 0,
            this: HashMap::new(),
            implied: HashSet::new(),
            below: HashMap::new(),
            whiteouts: HashMap::new(),
            opaque: HashMap::new(),
            held: 0,
            limit,
        }
    }

    /// Starts the next layer: the one read so far joins those below.
    pub fn next_layer(&mut self) {
        let layer = self.layer;
        for (k, kind) in self.this.drain() {
            if kind != b'w' {
                self.below.insert(k, (kind, layer));
            }
        }
        self.implied.clear();
        self.layer += 1;
    }

    /// Entries (and the like) the rules may still hold: the tar reader's limit.
    pub fn entries_left(&self) -> u64 {
        self.limit.saturating_sub(self.held)
    }

    fn hold(&mut self) -> Result<(), LayerRuleError> {
        self.held += 1;
        if self.held > self.limit {
            return Err(LayerRuleError::TooManyEntries { limit: self.limit });
        }
        Ok(())
    }

    /// Checks one entry of the current layer.
    pub fn entry(&mut self, entry: &TarEntry) -> Result<(), LayerRuleError> {
        let raw = &entry.name;
        let kind = entry.kind;
        if !matches!(kind, b'0'..=b'6') {
            return Err(LayerRuleError::UnsupportedType { name: show(raw), kind: kind as char });
        }
        let parts = components(raw)?;
        let Some((last, parents)) = parts.split_last() else {
            // The root itself (`./`): only as a directory.
            if kind != b'5' {
                return Err(LayerRuleError::BelowNonDirectory {
                    name: show(raw),
                    parent: ".".into(),
                    kind: kind_name(kind),
                });
            }
            return Ok(());
        };
        let parent_key = self.check_parents(raw, parents)?;
        let name = parts.join(&b'/');
        let k = key(&name);
        if last.starts_with(WHITEOUT) {
            if kind != b'0' {
                return Err(LayerRuleError::WhiteoutNotFile { name: show(raw), kind: kind_name(kind) });
            }
            if *last == OPAQUE {
                if let Some(dir) = parent_key {
                    self.opaque.insert(dir, self.layer);
                }
            } else if last.starts_with(b".wh..wh.") {
                return Err(LayerRuleError::AufsMeta { name: show(raw) });
            } else {
                let hidden = &last[WHITEOUT.len()..];
                let mut target = parents.join(&b'/');
                if !target.is_empty() {
                    target.push(b'/');
                }
                target.extend_from_slice(hidden);
                let t = key(&target);
                if self.this.get(&t).is_some_and(|&k| k != b'w') || self.implied.contains(&t) {
                    return Err(LayerRuleError::WhiteoutOfSameLayer { name: show(raw), target: show(&target) });
                }
                self.hold()?;
                self.whiteouts.insert(t, self.layer);
            }
            if self.this.insert(k, b'w').is_some() {
                return Err(LayerRuleError::Duplicate { name: show(raw) });
            }
            return self.hold();
        }
        if self.whiteouts.get(&k) == Some(&self.layer) {
            return Err(LayerRuleError::WhiteoutOfSameLayer {
                name: format!("{}/.wh.{}", show(&parents.join(&b'/')), show(last)),
                target: show(&name),
            });
        }
        if kind == b'1' {
            let target = components(&entry.link)?.join(&b'/');
            let t = key(&target);
            let found = self.this.get(&t).copied().or_else(|| self.below.get(&t).map(|&(kind, _)| kind));
            match found {
                None | Some(b'w') => {
                    return Err(LayerRuleError::HardLinkTargetMissing { name: show(raw), target: show(&entry.link) })
                }
                Some(b'5') => {
                    return Err(LayerRuleError::HardLinkToDirectory { name: show(raw), target: show(&entry.link) })
                }
                Some(_) => {}
            }
        }
        if self.implied.contains(&k) && kind != b'5' {
            return Err(LayerRuleError::Duplicate { name: show(raw) });
        }
        if self.this.insert(k, kind).is_some() {
            return Err(LayerRuleError::Duplicate { name: show(raw) });
        }
        self.hold()
    }

    /// Checks every parent of an entry of the current layer (`parents`, its
    /// name's components but the last); returns the key of the direct parent.
    fn check_parents(&mut self, raw: &[u8], parents: &[&[u8]]) -> Result<Option<Key>, LayerRuleError> {
        let mut hasher = Sha256::new();
        // Lower entries of layers before `hidden` are gone (whiteouts, opaque directories).
        let mut hidden = 0u32;
        let mut last = None;
        for (i, part) in parents.iter().enumerate() {
            if i > 0 {
                hasher.update(b"/");
            }
            hasher.update(part);
            let k = key_of(hasher.clone());
            last = Some(k);
            let parent = || show(&parents[..=i].join(&b'/'));
            if self.whiteouts.get(&k) == Some(&self.layer) {
                return Err(LayerRuleError::BelowOwnWhiteout { name: show(raw), parent: parent() });
            }
            if let Some(&w) = self.whiteouts.get(&k) {
                hidden = hidden.max(w);
            }
            match self.this.get(&k) {
                Some(b'5') => {}
                Some(&kind) => {
                    return Err(LayerRuleError::BelowNonDirectory {
                        name: show(raw),
                        parent: parent(),
                        kind: kind_name(kind),
                    })
                }
                None => {
                    if let Some(&(kind, layer)) = self.below.get(&k) {
                        if layer >= hidden && kind != b'5' {
                            return Err(LayerRuleError::BelowLowerNonDirectory {
                                name: show(raw),
                                parent: parent(),
                                kind: kind_name(kind),
                                layer,
                            });
                        }
                    }
                    if self.implied.insert(k) {
                        self.hold()?;
                    }
                }
            }
            if let Some(&o) = self.opaque.get(&k) {
                hidden = hidden.max(o);
            }
        }
        Ok(last)
    }
}

/// The components of `name` without empty and `.` ones; refuses absolute
/// names, `..` and names deeper than [`MAX_DEPTH`].
fn components(name: &[u8]) -> Result<Vec<&[u8]>, LayerRuleError> {
    if name.starts_with(b"/") {
        return Err(LayerRuleError::AbsoluteName { name: show(name) });
    }
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => continue,
            b".." => return Err(LayerRuleError::DotDot { name: show(name) }),
            c => out.push(c),
        }
        if out.len() > MAX_DEPTH {
            return Err(LayerRuleError::TooDeep { name: show(name), depth: name.split(|&b| b == b'/').count() });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, kind: u8) -> TarEntry {
        TarEntry { offset: 0, kind, name: name.into(), link: Vec::new(), size: 0, data_offset: 0 }
    }

    fn layers(layers: &[&[(&str, u8)]]) -> Result<(), LayerRuleError> {
        let mut r = LayerRules::new(1000);
        for l in layers {
            r.next_layer();
            for (name, kind) in *l {
                r.entry(&e(name, *kind))?;
            }
        }
        Ok(())
    }

    #[test]
    fn symlinks_below_and_across_layers() {
        assert!(layers(&[&[("./", b'5'), ("etc/", b'5'), ("etc/hosts", b'0'), ("x", b'2')]]).is_ok());
        let e = layers(&[&[("x", b'2'), ("x/passwd", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::BelowNonDirectory { .. }), "{e}");
        // Implied parents are checked too.
        let e = layers(&[&[("x", b'2'), ("x/a/b", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::BelowNonDirectory { .. }), "{e}");
        let e = layers(&[&[("x", b'2')], &[("x/passwd", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::BelowLowerNonDirectory { layer: 1, .. }), "{e}");
        // A later directory replaces the symlink; a whiteout or an opaque
        // parent hides it.
        assert!(layers(&[&[("x", b'2')], &[("x/", b'5'), ("x/passwd", b'0')]]).is_ok());
        assert!(layers(&[&[("x", b'2')], &[(".wh.x", b'0')], &[("x/passwd", b'0')]]).is_ok());
        assert!(layers(&[&[("d/", b'5'), ("d/x", b'2')], &[("d/.wh..wh..opq", b'0')], &[("d/x/y", b'0')]]).is_ok());
        // A symlink made again after its whiteout counts.
        let e = layers(&[&[("x", b'2')], &[(".wh.x", b'0')], &[("x", b'2')], &[("x/y", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::BelowLowerNonDirectory { layer: 3, .. }), "{e}");
    }

    #[test]
    fn whiteouts_and_names() {
        let e = layers(&[&[("a", b'0'), (".wh.a", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::WhiteoutOfSameLayer { .. }), "{e}");
        let e = layers(&[&[(".wh.a", b'0'), ("a", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::WhiteoutOfSameLayer { .. }), "{e}");
        let e = layers(&[&[("d/x", b'0'), (".wh.d", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::WhiteoutOfSameLayer { .. }), "{e}");
        let e = layers(&[&[(".wh.d", b'0'), ("d/x", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::BelowOwnWhiteout { .. }), "{e}");
        let e = layers(&[&[(".wh..wh.plnk", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::AufsMeta { .. }), "{e}");
        let e = layers(&[&[(".wh.a", b'5')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::WhiteoutNotFile { .. }), "{e}");
        assert!(layers(&[&[("a", b'0')], &[(".wh.a", b'0')]]).is_ok());
        // An opaque whiteout keeps what its own layer puts in the directory.
        assert!(layers(&[&[("d/", b'5'), ("d/.wh..wh..opq", b'0'), ("d/a", b'0')]]).is_ok());
        let e = layers(&[&[("a", b'0'), ("./a", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::Duplicate { .. }), "{e}");
        let e = layers(&[&[("d/a", b'0'), ("d", b'0')]]).unwrap_err();
        assert!(matches!(e, LayerRuleError::Duplicate { .. }), "{e}");
        assert!(matches!(layers(&[&[("/a", b'0')]]).unwrap_err(), LayerRuleError::AbsoluteName { .. }));
        assert!(matches!(layers(&[&[("a/../b", b'0')]]).unwrap_err(), LayerRuleError::DotDot { .. }));
        assert!(matches!(layers(&[&[("g", b'g')]]).unwrap_err(), LayerRuleError::UnsupportedType { .. }));
        let deep = "a/".repeat(MAX_DEPTH + 1);
        assert!(matches!(layers(&[&[(deep.as_str(), b'5')]]).unwrap_err(), LayerRuleError::TooDeep { .. }));
    }

    #[test]
    fn hard_links_and_the_limit() {
        let mut r = LayerRules::new(1000);
        r.next_layer();
        r.entry(&e("a", b'0')).unwrap();
        r.entry(&e("d/", b'5')).unwrap();
        r.next_layer();
        let link = |name: &str, target: &str| TarEntry { link: target.into(), ..e(name, b'1') };
        r.entry(&link("b", "a")).unwrap();
        assert!(matches!(r.entry(&link("c", "nope")), Err(LayerRuleError::HardLinkTargetMissing { .. })));
        assert!(matches!(r.entry(&link("c", "d")), Err(LayerRuleError::HardLinkToDirectory { .. })));
        // Two implied directories and the entry: three keys.
        let mut r = LayerRules::new(2);
        r.next_layer();
        assert!(matches!(r.entry(&e("a/b/c", b'0')), Err(LayerRuleError::TooManyEntries { limit: 2 })));
    }
}
