//! Nix store paths: `/nix/store/<hash>-<name>`, parsed once and valid ever after.
//!
//! The rules mirror Nix's own `StorePath` parser (`libstore/path.cc`): the hash is
//! 32 characters of Nix's base-32 alphabet (`0-9a-z` without `e o u t`), the name
//! is 1 to 211 characters from `A-Za-z0-9+-._?=` and does not start with a dot.

use std::fmt;
use std::path::{Path, PathBuf};

/// Nix's base-32 alphabet: digits and lowercase letters without `e`, `o`, `u`, `t`.
pub const NIX_BASE32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
/// Length of the hash part of a store path's base name.
pub const HASH_LEN: usize = 32;
/// Longest name part Nix accepts.
pub const MAX_NAME_LEN: usize = 211;
/// The store directory everyone uses.
pub const DEFAULT_STORE_DIR: &str = "/nix/store";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorePathError {
    #[error("store path {path:?} is not inside the store directory {store_dir:?}")]
    NotInStore { path: String, store_dir: String },
    #[error("store path {path:?} has a hash part of {len} characters; Nix hashes are 32 characters")]
    InvalidHashLength { path: String, len: usize },
    #[error(
        "store path {path:?} has {ch:?} at position {pos} of its hash; only {alphabet} are allowed",
        alphabet = "0-9 and a-z without e, o, u, t"
    )]
    InvalidHashChar { path: String, ch: char, pos: usize },
    #[error("store path {path:?} has no '-' between hash and name")]
    MissingDash { path: String },
    #[error("store path {path:?} has an empty name")]
    EmptyName { path: String },
    #[error("store path {path:?} has a name of {len} characters; at most 211 are allowed")]
    NameTooLong { path: String, len: usize },
    #[error("store path {path:?} has {ch:?} at position {pos} of its name; allowed are A-Z a-z 0-9 + - . _ ? =, not starting with '.'")]
    InvalidNameChar { path: String, ch: char, pos: usize },
    #[error("store directory {store_dir:?} must be an absolute path without a trailing '/'")]
    InvalidStoreDir { store_dir: String },
}

/// The directory that holds store paths, `/nix/store` unless Nix was configured otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreDir(String);

impl StoreDir {
    pub fn new(dir: &str) -> Result<Self, StorePathError> {
        let ok = dir.starts_with('/')
            && dir.len() > 1
            && !dir.ends_with('/')
            && !dir.split('/').skip(1).any(|c| c.is_empty() || c == "." || c == "..");
        if ok {
            Ok(StoreDir(dir.to_string()))
        } else {
            Err(StorePathError::InvalidStoreDir { store_dir: dir.to_string() })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store directory relative to `/`, as it appears inside an image rootfs.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }

    /// Parses an absolute store path such as `/nix/store/<hash>-<name>`.
    pub fn parse_path(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base = path
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|b| !b.contains('/'))
            .ok_or_else(|| StorePathError::NotInStore { path: path.to_string(), store_dir: self.0.clone() })?;
        StorePath::from_base_name(base).map_err(|e| e.with_path(path))
    }

    /// Where `sp` lives on the host.
    pub fn host_path(&self, sp: &StorePath) -> PathBuf {
        Path::new(&self.0).join(sp.base_name())
    }

    /// `sp` as an absolute path string.
    pub fn display(&self, sp: &StorePath) -> String {
        format!("{}/{}", self.0, sp.base_name())
    }
}

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir(DEFAULT_STORE_DIR.to_string())
    }
}

/// A store path's base name, `<hash>-<name>`, independent of the store directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    base: String,
}

impl StorePath {
    /// Parses the base name `<hash>-<name>` of a store path.
    pub fn from_base_name(base: &str) -> Result<Self, StorePathError> {
        let path = base.to_string();
        let bytes = base.as_bytes();
        let dash = bytes.iter().position(|&b| b == b'-');
        let hash_len = dash.unwrap_or(bytes.len());
        if hash_len != HASH_LEN {
            if dash.is_none() && bytes.len() > HASH_LEN {
                return Err(StorePathError::MissingDash { path });
            }
            return Err(StorePathError::InvalidHashLength { path, len: hash_len });
        }
        for (pos, ch) in base[..HASH_LEN].chars().enumerate() {
            if !NIX_BASE32.contains(&(ch as u8)) || !ch.is_ascii() {
                return Err(StorePathError::InvalidHashChar { path, ch, pos });
            }
        }
        if dash.is_none() {
            return Err(StorePathError::MissingDash { path });
        }
        let name = &base[HASH_LEN + 1..];
        if name.is_empty() {
            return Err(StorePathError::EmptyName { path });
        }
        let name_len = name.chars().count();
        if name_len > MAX_NAME_LEN {
            return Err(StorePathError::NameTooLong { path, len: name_len });
        }
        for (pos, ch) in name.chars().enumerate() {
            let ok = ch.is_ascii_alphanumeric() || "+-._?=".contains(ch);
            if !ok || (pos == 0 && ch == '.') {
                return Err(StorePathError::InvalidNameChar { path, ch, pos });
            }
        }
        Ok(StorePath { base: path })
    }

    /// The 32-character hash part.
    pub fn hash(&self) -> &str {
        &self.base[..HASH_LEN]
    }

    /// The name part after the dash, e.g. `busybox-1.36.1`.
    pub fn name(&self) -> &str {
        &self.base[HASH_LEN + 1..]
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> &str {
        &self.base
    }

    /// The package name and version in the name part, split by Nix's
    /// `builtins.parseDrvName` rule ([`DrvName::parse`]).
    pub fn drv_name(&self) -> DrvName<'_> {
        DrvName::parse(self.name())
    }
}

/// A package name split into name and version the way Nix's
/// `builtins.parseDrvName` does it: the version starts after the first `-`
/// that is followed by a character that is not an ASCII letter; with no such
/// dash there is no version. So `glibc-2.35-224` is `glibc` 2.35-224,
/// `xz-5.4.0-bin` is `xz` 5.4.0-bin (an output suffix stays in the
/// version), `font-util-1.3` is `font-util` 1.3, and `hello-world` has no
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrvName<'a> {
    pub name: &'a str,
    /// `None` where Nix's version would be the empty string.
    pub version: Option<&'a str>,
}

impl<'a> DrvName<'a> {
    /// Splits `s` by the `builtins.parseDrvName` rule.
    pub fn parse(s: &'a str) -> DrvName<'a> {
        let b = s.as_bytes();
        let split = (0..b.len()).find(|&i| b[i] == b'-' && i + 1 < b.len() && !b[i + 1].is_ascii_alphabetic());
        match split {
            Some(i) => DrvName { name: &s[..i], version: Some(&s[i + 1..]) },
            None => DrvName { name: s, version: None },
        }
    }
}

impl StorePathError {
    /// Replaces the base name in the error with the full path the user gave.
    fn with_path(self, full: &str) -> Self {
        use StorePathError::*;
        let p = full.to_string();
        match self {
            InvalidHashLength { len, .. } => InvalidHashLength { path: p, len },
            InvalidHashChar { ch, pos, .. } => InvalidHashChar { path: p, ch, pos },
            MissingDash { .. } => MissingDash { path: p },
            EmptyName { .. } => EmptyName { path: p },
            NameTooLong { len, .. } => NameTooLong { path: p, len },
            InvalidNameChar { ch, pos, .. } => InvalidNameChar { path: p, ch, pos },
            other => other,
        }
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";

    #[test]
    fn parses_valid_paths() {
        let sd = StoreDir::default();
        let sp = sd.parse_path(&format!("/nix/store/{H}-busybox-1.36.1")).unwrap();
        assert_eq!(sp.hash(), H);
        assert_eq!(sp.name(), "busybox-1.36.1");
        assert_eq!(sd.display(&sp), format!("/nix/store/{H}-busybox-1.36.1"));
        assert!(StorePath::from_base_name(&format!("{H}-a+b?=_.x")).is_ok());
    }

    #[test]
    fn rejects_bad_paths() {
        let sd = StoreDir::default();
        type Check = fn(&StorePathError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (format!("/usr/{H}-x"), |e| matches!(e, StorePathError::NotInStore { .. })),
            (format!("/nix/store/{H}-x/bin"), |e| matches!(e, StorePathError::NotInStore { .. })),
            ("/nix/store/abc-x".into(), |e| matches!(e, StorePathError::InvalidHashLength { len: 3, .. })),
            (format!("/nix/store/{}e-x", &H[..31]), |e| {
                matches!(e, StorePathError::InvalidHashChar { ch: 'e', pos: 31, .. })
            }),
            (format!("/nix/store/{H}"), |e| matches!(e, StorePathError::MissingDash { .. })),
            (format!("/nix/store/{H}x"), |e| matches!(e, StorePathError::MissingDash { .. })),
            (format!("/nix/store/{H}-"), |e| matches!(e, StorePathError::EmptyName { .. })),
            (format!("/nix/store/{H}-.hidden"), |e| {
                matches!(e, StorePathError::InvalidNameChar { ch: '.', pos: 0, .. })
            }),
            (format!("/nix/store/{H}-a b"), |e| matches!(e, StorePathError::InvalidNameChar { ch: ' ', pos: 1, .. })),
            (format!("/nix/store/{H}-{}", "a".repeat(212)), |e| {
                matches!(e, StorePathError::NameTooLong { len: 212, .. })
            }),
        ];
        for (input, check) in cases {
            let err = sd.parse_path(&input).unwrap_err();
            assert!(check(&err), "{input}: unexpected {err:?}");
        }
    }

    #[test]
    fn drv_names_split_like_parse_drv_name() {
        // (input, name, version): what `builtins.parseDrvName` gives in Nix 2.8.
        let cases = [
            ("busybox-1.36.1", "busybox", Some("1.36.1")),
            ("glibc-2.35-224", "glibc", Some("2.35-224")),
            ("xz-5.4.0-bin", "xz", Some("5.4.0-bin")),
            ("font-util-1.3", "font-util", Some("1.3")),
            ("hello-world", "hello-world", None),
            ("hello", "hello", None),
            ("nix-2.8.1-man", "nix", Some("2.8.1-man")),
            ("foo--bar", "foo", Some("-bar")),
            ("foo-.x", "foo", Some(".x")),
            ("foo-_1", "foo", Some("_1")),
            ("foo-", "foo-", None),
            ("-1.0", "", Some("1.0")),
            ("python3.10-six-1.16.0", "python3.10-six", Some("1.16.0")),
            ("source", "source", None),
        ];
        for (input, name, version) in cases {
            assert_eq!(DrvName::parse(input), DrvName { name, version }, "{input}");
        }
        let sp = StorePath::from_base_name(&format!("{H}-bash-5.2-p15")).unwrap();
        assert_eq!(sp.drv_name(), DrvName { name: "bash", version: Some("5.2-p15") });
    }

    #[test]
    fn store_dir_rules() {
        assert!(StoreDir::new("/tmp/x/nix/store").is_ok());
        for bad in ["", "/", "nix/store", "/nix/store/", "/nix//store", "/nix/../store"] {
            assert_eq!(StoreDir::new(bad), Err(StorePathError::InvalidStoreDir { store_dir: bad.into() }));
        }
    }
}
