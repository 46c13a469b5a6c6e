//! NAR hashes: the SHA-256 of a store path's Nix ARchive serialisation, which
//! is what Nix records as the path's `narHash`.
//!
//! The serialisation (Eelco Dolstra, *The Purely Functional Software
//! Deployment Model*, fig. 5.2; the Nix manual's "Nix Archive (NAR) format"):
//!
//! ```text
//! nar     = str("nix-archive-1"), obj
//! obj     = str("("), str("type"), body, str(")")
//! body    = str("regular"), [str("executable"), str("")], str("contents"), str(bytes)
//!         | str("symlink"), str("target"), str(target)
//!         | str("directory"), { str("entry"), str("("), str("name"), str(name),
//!                               str("node"), obj, str(")") }
//! str(s)  = the length of s as a 64-bit little-endian integer, s, zero bytes
//!           up to a multiple of 8
//! ```
//!
//! Directory entries come sorted by the bytes of their names, which is the
//! order the archive framing walks a store path in, so the framing feeds a
//! [`NarHasher`] while it reads each file once. A regular file is executable
//! when its owner may execute it.
//!
//! [`NarHash`] parses and prints the forms Nix writes: `sha256:` with Nix's
//! base-32 (what `exportReferencesGraph` reports) or with hex, and SRI
//! (`sha256-` and base64).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Nix's base-32 alphabet (no e, o, u, t).
const NIX32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// A store path's NAR hash (SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NarHash([u8; 32]);

/// A `narHash` in a form we do not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a SHA-256 NAR hash; expected sha256:<52 Nix base-32 digits>, sha256:<64 hex digits> or sha256-<base64>")]
pub struct NarHashParseError {
    pub value: String,
}

impl NarHash {
    pub fn from_bytes(bytes: [u8; 32]) -> NarHash {
        NarHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `sha256:<nix base-32>`, `sha256:<hex>` or `sha256-<base64>`.
    pub fn parse(s: &str) -> Result<NarHash, NarHashParseError> {
        let err = || NarHashParseError { value: s.to_string() };
        let bytes = if let Some(d) = s.strip_prefix("sha256:") {
            match d.len() {
                52 => from_nix32(d),
                64 => from_hex(d),
                _ => None,
            }
        } else if let Some(d) = s.strip_prefix("sha256-") {
            from_base64(d)
        } else {
            None
        };
        bytes.map(NarHash).ok_or_else(err)
    }

    /// Nix's base-32 form without the `sha256:` prefix.
    pub fn to_nix32(&self) -> String {
        let len = (32 * 8 - 1) / 5 + 1;
        (0..len)
            .rev()
            .map(|n| {
                let b = n * 5;
                let (i, j) = (b / 8, b % 8);
                let lo = self.0[i] >> j;
                let hi = if i + 1 < 32 { (self.0[i + 1] as u16) << (8 - j) } else { 0 };
                NIX32[((lo as u16 | hi) & 0x1f) as usize] as char
            })
            .collect()
    }
}

/// `sha256:` and Nix's base-32, as `nix-store -q --hash` prints it.
impl fmt::Display for NarHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_nix32())
    }
}

impl fmt::Debug for NarHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn from_nix32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (n, c) in s.bytes().rev().enumerate() {
        let digit = NIX32.iter().position(|&d| d == c)? as u16;
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        out[i] |= (digit << j) as u8;
        let carry = (digit << j) >> 8;
        if i + 1 < 32 {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let b = s.as_bytes();
    for (i, o) in out.iter_mut().enumerate() {
        let hex = std::str::from_utf8(&b[2 * i..2 * i + 2]).ok()?;
        *o = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

fn from_base64(s: &str) -> Option<[u8; 32]> {
    const ALPHA: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // 32 bytes: 43 digits and one '='.
    let digits = s.strip_suffix('=')?;
    if digits.len() != 43 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(33);
    for c in digits.bytes() {
        bits = (bits << 6) | ALPHA.iter().position(|&a| a == c)? as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    // The 2 bits left over must be zero.
    if bits & ((1 << nbits) - 1) != 0 {
        return None;
    }
    out.try_into().ok()
}

/// Hashes a NAR serialisation as it is produced, event by event, without
/// holding any of it. The caller walks the tree in NAR order (entries sorted
/// by name bytes) and calls the methods in the order of the grammar above;
/// file contents may come in any number of pieces.
///
/// [`NarHasher::counting`] only counts the bytes (the NAR size), for progress
/// over store paths that are not verified.
#[derive(Clone)]
pub struct NarHasher {
    h: Option<Sha256>,
    /// Bytes of serialisation so far.
    size: u64,
    /// Bytes of the current file's contents still to come.
    left: u64,
    /// Padding owed after the current file's contents.
    pad: usize,
}

impl Default for NarHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl NarHasher {
    pub fn new() -> NarHasher {
        Self::with(Some(Sha256::new()))
    }

    /// Counts the serialisation's bytes without hashing them: [`finish`]
    /// then gives `None`.
    ///
    /// [`finish`]: NarHasher::finish
    pub fn counting() -> NarHasher {
        Self::with(None)
    }

    fn with(h: Option<Sha256>) -> NarHasher {
        let mut n = NarHasher { h, size: 0, left: 0, pad: 0 };
        n.str(b"nix-archive-1");
        n
    }

    /// Bytes of NAR serialisation so far; at the end, the path's `narSize`.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if let Some(h) = &mut self.h {
            h.update(data);
        }
    }

    fn str(&mut self, s: &[u8]) {
        self.update(&(s.len() as u64).to_le_bytes());
        self.update(s);
        self.zeros(s.len());
    }

    fn zeros(&mut self, len: usize) {
        let rem = len % 8;
        if rem != 0 {
            self.update(&[0u8; 8][..8 - rem]);
        }
    }

    /// Opens a directory object.
    pub fn dir_begin(&mut self) {
        for s in [&b"("[..], b"type", b"directory"] {
            self.str(s);
        }
    }

    /// Opens a directory entry; its object follows.
    pub fn entry_begin(&mut self, name: &[u8]) {
        for s in [&b"entry"[..], b"(", b"name", name, b"node"] {
            self.str(s);
        }
    }

    /// Closes a directory entry.
    pub fn entry_end(&mut self) {
        self.str(b")");
    }

    /// Closes a directory object.
    pub fn dir_end(&mut self) {
        self.str(b")");
    }

    /// A symlink object.
    pub fn symlink(&mut self, target: &[u8]) {
        for s in [&b"("[..], b"type", b"symlink", b"target", target, b")"] {
            self.str(s);
        }
    }

    /// Opens a regular file of `size` bytes; [`NarHasher::file_data`] gives
    /// them, [`NarHasher::file_end`] closes it.
    pub fn file_begin(&mut self, executable: bool, size: u64) {
        for s in [&b"("[..], b"type", b"regular"] {
            self.str(s);
        }
        if executable {
            self.str(b"executable");
            self.str(b"");
        }
        self.str(b"contents");
        self.update(&size.to_le_bytes());
        self.left = size;
        self.pad = (size % 8) as usize;
    }

    /// The next piece of the current file's contents.
    pub fn file_data(&mut self, data: &[u8]) {
        self.update(data);
        self.left = self.left.saturating_sub(data.len() as u64);
    }

    /// Closes a regular file. The caller checks that exactly the announced
    /// size was given.
    pub fn file_end(&mut self) {
        debug_assert_eq!(self.left, 0, "file contents shorter than announced");
        self.zeros(self.pad);
        self.pad = 0;
        self.str(b")");
    }

    /// The hash; `None` for a [`NarHasher::counting`] one.
    pub fn finish(self) -> Option<NarHash> {
        self.h.map(|h| NarHash(h.finalize().into()))
    }
}

/// Why [`nar_hash_of`] could not hash a path.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is a {kind}; a NAR holds only directories, regular files and symlinks", path.display())]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("{} changed size while it was hashed", path.display())]
    SizeChanged { path: PathBuf },
}

/// The NAR hash of the tree at `path` (not following a final symlink), read
/// on its own. The archive computes it while packing instead; this is for
/// tests and tools.
pub fn nar_hash_of(path: &Path) -> Result<NarHash, NarError> {
    let mut h = NarHasher::new();
    walk(&mut h, path)?;
    Ok(h.finish().expect("a hashing NarHasher"))
}

fn walk(h: &mut NarHasher, path: &Path) -> Result<(), NarError> {
    let read = |source| NarError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::symlink_metadata(path).map_err(read)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        h.dir_begin();
        let mut names: Vec<std::ffi::OsString> =
            std::fs::read_dir(path).and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect()).map_err(read)?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            h.entry_begin(name.as_bytes());
            walk(h, &path.join(&name))?;
            h.entry_end();
        }
        h.dir_end();
    } else if ft.is_symlink() {
        h.symlink(std::fs::read_link(path).map_err(read)?.as_os_str().as_bytes());
    } else if ft.is_file() {
        let size = meta.len();
        h.file_begin(meta.permissions().mode() & 0o100 != 0, size);
        let mut f = File::open(path).map_err(read)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(read)?;
            if n == 0 {
                break;
            }
            done += n as u64;
            if done > size {
                return Err(NarError::SizeChanged { path: path.to_path_buf() });
            }
            h.file_data(&buf[..n]);
        }
        if done != size {
            return Err(NarError::SizeChanged { path: path.to_path_buf() });
        }
        h.file_end();
    } else {
        return Err(NarError::Unsupported { path: path.to_path_buf(), kind: "special file" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip_and_known_value() {
        // SHA-256 of the empty string, as `nix hash to-base32` prints it.
        let empty = NarHash(Sha256::digest(b"").into());
        assert_eq!(empty.to_nix32(), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
        assert_eq!(NarHash::parse(&empty.to_string()), Ok(empty));
        let hex: String = empty.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(NarHash::parse(&format!("sha256:{hex}")), Ok(empty));
        assert_eq!(NarHash::parse("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="), Ok(empty));
        for bad in ["sha256:x", "", "md5:abc", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "sha256:e"] {
            assert!(NarHash::parse(bad).is_err(), "{bad}");
        }
        // A leading digit beyond 256 bits.
        assert!(NarHash::parse(&format!("sha256:z{}", &empty.to_nix32()[1..])).is_err());
    }

    /// The serialisation of a small tree, spelled out byte by byte.
    #[test]
    fn serialisation_matches_the_grammar() {
        fn s(out: &mut Vec<u8>, x: &[u8]) {
            out.extend_from_slice(&(x.len() as u64).to_le_bytes());
            out.extend_from_slice(x);
            out.resize(out.len().div_ceil(8) * 8, 0);
        }
        let mut want = Vec::new();
        for x in [&b"nix-archive-1"[..], b"(", b"type", b"directory"] {
            s(&mut want, x);
        }
        for x in
            [&b"entry"[..], b"(", b"name", b"a", b"node", b"(", b"type", b"regular", b"executable", b"", b"contents"]
        {
            s(&mut want, x);
        }
        s(&mut want, b"hello");
        for x in [&b")"[..], b")", b"entry", b"(", b"name", b"l", b"node", b"(", b"type", b"symlink", b"target", b"a"] {
            s(&mut want, x);
        }
        for x in [&b")"[..], b")", b")"] {
            s(&mut want, x);
        }
        let mut h = NarHasher::new();
        h.dir_begin();
        h.entry_begin(b"a");
        h.file_begin(true, 5);
        h.file_data(b"hel");
        h.file_data(b"lo");
        h.file_end();
        h.entry_end();
        h.entry_begin(b"l");
        h.symlink(b"a");
        h.entry_end();
        h.dir_end();
        assert_eq!(h.size(), want.len() as u64);
        assert_eq!(h.finish(), Some(NarHash(Sha256::digest(&want).into())));

        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a"), b"hello").unwrap();
        std::fs::set_permissions(d.join("a"), std::fs::Permissions::from_mode(0o555)).unwrap();
        std::os::unix::fs::symlink("a", d.join("l")).unwrap();
        assert_eq!(nar_hash_of(&d).unwrap(), NarHash(Sha256::digest(&want).into()));
    }
}
