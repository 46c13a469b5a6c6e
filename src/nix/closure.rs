//! The closure of an image's packages, as Nix itself reports it.
//!
//! With `__structuredAttrs = true`, `exportReferencesGraph.closure = [ pkgs ]`
//! makes Nix put a list of path infos under the attribute `closure` of
//! `.attrs.json`: `[{ "path", "narHash", "narSize", "references", ... }]`.
//! We never guess a closure by scanning files.

use serde::Deserialize;

use crate::nix::nar::NarHash;
use crate::nix::store_path::{StoreDir, StorePath, StorePathError};

/// One entry of Nix's `exportReferencesGraph` output, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPathInfo {
    pub path: String,
    #[serde(default)]
    pub nar_hash: Option<String>,
    #[serde(default)]
    pub nar_size: Option<u64>,
    #[serde(default)]
    pub references: Vec<String>,
}

/// A validated store path of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    /// What Nix recorded; the archive checks the store contents against it.
    pub nar_hash: Option<NarHash>,
    pub nar_size: Option<u64>,
    pub references: Vec<StorePath>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosureError {
    #[error("closure entry {index}: {source}")]
    BadPath { index: usize, source: StorePathError },
    #[error("closure lists {path:?} twice")]
    Duplicate { path: String },
    #[error("{path:?} refers to {reference:?}, which is missing from the closure; exportReferencesGraph output is incomplete")]
    NotClosed { path: String, reference: String },
    #[error("closure entry {path:?}: narHash {value:?} is not a SHA-256 hash in a form Nix writes (sha256:<base-32>, sha256:<hex>, sha256-<base64>)")]
    BadNarHash { path: String, value: String },
    #[error("the closure is empty; mkACI needs at least one package")]
    Empty,
}

/// Every store path an image needs, sorted by base name, closed under references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    paths: Vec<PathInfo>,
}

impl Closure {
    pub fn from_raw(store: &StoreDir, raw: &[RawPathInfo]) -> Result<Self, ClosureError> {
        if raw.is_empty() {
            return Err(ClosureError::Empty);
        }
        let parse =
            |index: usize, p: &str| store.parse_path(p).map_err(|source| ClosureError::BadPath { index, source });
        let mut paths = Vec::with_capacity(raw.len());
        for (index, r) in raw.iter().enumerate() {
            let references = r.references.iter().map(|p| parse(index, p)).collect::<Result<Vec<_>, _>>()?;
            let nar_hash = match &r.nar_hash {
                None => None,
                Some(value) => Some(
                    NarHash::parse(value)
                        .map_err(|_| ClosureError::BadNarHash { path: r.path.clone(), value: value.clone() })?,
                ),
            };
            paths.push(PathInfo { path: parse(index, &r.path)?, nar_hash, nar_size: r.nar_size, references });
        }
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        for w in paths.windows(2) {
            if w[0].path == w[1].path {
                return Err(ClosureError::Duplicate { path: store.display(&w[0].path) });
            }
        }
        let closure = Closure { paths };
        for info in &closure.paths {
            for r in &info.references {
                if !closure.contains(r) {
                    return Err(ClosureError::NotClosed {
                        path: store.display(&info.path),
                        reference: store.display(r),
                    });
                }
            }
        }
        Ok(closure)
    }

    pub fn contains(&self, sp: &StorePath) -> bool {
        self.paths.binary_search_by(|p| p.path.cmp(sp)).is_ok()
    }

    /// The store paths, sorted by base name (the order they appear in the image).
    pub fn paths(&self) -> &[PathInfo] {
        &self.paths
    }

    /// Sum of the NAR sizes Nix reported, when it reported them all.
    pub fn nar_size(&self) -> Option<u64> {
        self.paths.iter().map(|p| p.nar_size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &str, refs: &[&str]) -> RawPathInfo {
        RawPathInfo {
            path: path.into(),
            nar_hash: None,
            nar_size: Some(10),
            references: refs.iter().map(|s| s.to_string()).collect(),
        }
    }
    const A: &str = "/nix/store/0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-a";
    const B: &str = "/nix/store/1c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-b";

    #[test]
    fn sorted_and_closed() {
        let c = Closure::from_raw(&StoreDir::default(), &[raw(B, &[B, A]), raw(A, &[])]).unwrap();
        let names: Vec<_> = c.paths().iter().map(|p| p.path.name()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.nar_size(), Some(20));
    }

    #[test]
    fn errors() {
        let sd = StoreDir::default();
        assert_eq!(Closure::from_raw(&sd, &[]), Err(ClosureError::Empty));
        assert_eq!(
            Closure::from_raw(&sd, &[raw(A, &[]), raw(A, &[])]),
            Err(ClosureError::Duplicate { path: A.into() })
        );
        assert_eq!(
            Closure::from_raw(&sd, &[raw(A, &[B])]),
            Err(ClosureError::NotClosed { path: A.into(), reference: B.into() })
        );
        assert!(matches!(Closure::from_raw(&sd, &[raw("/tmp/x", &[])]), Err(ClosureError::BadPath { index: 0, .. })));
        let bad = RawPathInfo { nar_hash: Some("sha256:x".into()), ..raw(A, &[]) };
        assert_eq!(
            Closure::from_raw(&sd, &[bad]),
            Err(ClosureError::BadNarHash { path: A.into(), value: "sha256:x".into() })
        );
    }
}
