//! The result index `nix2aci.json`: the list of artifacts a build made, with
//! their files and digests. `mkaci build` writes it; postprocess, verify and
//! inspect read it instead of guessing file names. The format is described in
//! `docs/result-layout.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{AciFiles, FileName};
use crate::image_id::ImageId;
use crate::manifest::AcIdentifier;
use crate::plan::StoreLayout;

/// The file name of the index inside a result.
pub const INDEX_FILE: &str = "nix2aci.json";
/// The index format this mkaci writes and reads.
pub const INDEX_VERSION: u64 = 2;

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// An application image: an `.aci` with an `app`.
    Aci,
    /// An image that another image lists under `dependencies`.
    DependencyAci,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Aci => "aci",
            ArtifactKind::DependencyAci => "dependency-aci",
        }
    }
}

/// The digests of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Digests {
    /// The appc image ID: `sha512-` and the SHA-512 of the uncompressed tar.
    #[serde(with = "image_id_str")]
    pub image_id: ImageId,
}

mod image_id_str {
    use super::ImageId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(id: &ImageId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ImageId, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One artifact of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Artifact {
    pub kind: ArtifactKind,
    /// The image name, also the `rkt trust --prefix`.
    pub name: AcIdentifier,
    /// The `version` label; null when the image has none.
    pub version: Option<String>,
    pub os: String,
    pub arch: String,
    /// Whether the store paths are inside the image (fat) or host mounts (thin).
    pub store_layout: StoreLayout,
    /// Whether postprocess signs it (the mkACI argument `sign`).
    pub sign: bool,
    pub files: AciFiles,
    pub digests: Digests,
}

/// `nix2aci.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The format version, [`INDEX_VERSION`].
    pub nix2aci: u64,
    pub artifacts: Vec<Artifact>,
}

/// Why a path is not a usable nix2aci result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error(
        "{result:?} is not a nix2aci output: it has no {INDEX_FILE}; pass the output of \
         `nix-build -A <image>` for an mkACI image (e.g. ./result)"
    )]
    MissingIndex { result: PathBuf },
    #[error("cannot read {path:?}: {message}; pass the output of an mkACI build")]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "{path:?} has format version {found}, this mkaci reads version {INDEX_VERSION}; run the \
         postprocess.sh of the same result, which calls the matching mkaci"
    )]
    UnsupportedVersion { path: PathBuf, found: u64 },
    #[error("{path:?} is not a valid nix2aci index: at {field}: {message}; rebuild the image with mkACI")]
    Malformed { path: PathBuf, field: String, message: String },
    #[error("{path:?} lists no artifacts; rebuild the image with mkACI")]
    NoArtifacts { path: PathBuf },
    #[error(
        "{path:?}: artifacts[{index}] is {layout} but files.mounts is {mounts:?}; a thin image names \
         its .mounts file and a fat one has none; rebuild the image with mkACI"
    )]
    MountsMismatch { path: PathBuf, index: usize, layout: &'static str, mounts: Option<String> },
    #[error(
        "{path:?}: artifacts[{index}] and artifacts[{first}] both use the file {file:?}; rebuild the image with mkACI"
    )]
    DuplicateFile { path: PathBuf, index: usize, first: usize, file: String },
    #[error("{result:?} lists {file:?} but it is not a regular file there; rebuild the image")]
    MissingFile { result: PathBuf, file: String },
}

impl Index {
    /// The index of a result holding these artifacts.
    pub fn new(artifacts: Vec<Artifact>) -> Index {
        Index { nix2aci: INDEX_VERSION, artifacts }
    }

    /// The bytes of `nix2aci.json`: pretty JSON and a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("the index serialises");
        json.push(b'\n');
        json
    }

    /// Parses and checks the bytes of a `nix2aci.json`; `path` is for messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Index, IndexError> {
        let malformed =
            |field: String, message: String| IndexError::Malformed { path: path.to_path_buf(), field, message };
        // The version first, so an index of another format gets the version
        // message rather than a complaint about its fields.
        #[derive(Deserialize)]
        struct Version {
            nix2aci: u64,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(|e| malformed("nix2aci".into(), e.to_string()))?;
        if version.nix2aci != INDEX_VERSION {
            return Err(IndexError::UnsupportedVersion { path: path.to_path_buf(), found: version.nix2aci });
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let index: Index =
            serde_path_to_error::deserialize(de).map_err(|e| malformed(e.path().to_string(), e.inner().to_string()))?;
        if index.artifacts.is_empty() {
            return Err(IndexError::NoArtifacts { path: path.to_path_buf() });
        }
        let mut seen: std::collections::BTreeMap<&FileName, usize> = Default::default();
        for (index_no, a) in index.artifacts.iter().enumerate() {
            let thin = a.store_layout == StoreLayout::Thin;
            if thin != a.files.mounts.is_some() {
                return Err(IndexError::MountsMismatch {
                    path: path.to_path_buf(),
                    index: index_no,
                    layout: a.store_layout.as_str(),
                    mounts: a.files.mounts.as_ref().map(|m| m.to_string()),
                });
            }
            for f in a.files.all() {
                if let Some(first) = seen.insert(f, index_no) {
                    return Err(IndexError::DuplicateFile {
                        path: path.to_path_buf(),
                        index: index_no,
                        first,
                        file: f.to_string(),
                    });
                }
            }
        }
        Ok(index)
    }
}

/// A result directory (its canonical path, normally in the Nix store) and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultDir {
    pub dir: PathBuf,
    pub index: Index,
}

impl ResultDir {
    /// Reads and checks `RESULT/nix2aci.json`, and that every file it lists is
    /// a regular file in the result. `result` may be a symlink such as
    /// `./result`; `dir` is the resolved path, so links made from it point
    /// into the store and not at the `result` symlink.
    pub fn read(result: &Path) -> Result<ResultDir, IndexError> {
        let dir = std::fs::canonicalize(result)
            .map_err(|e| IndexError::Unreadable { path: result.to_path_buf(), message: e.to_string() })?;
        let path = dir.join(INDEX_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(IndexError::MissingIndex { result: result.to_path_buf() })
            }
            Err(e) => return Err(IndexError::Unreadable { path, message: e.to_string() }),
        };
        let index = Index::parse(&bytes, &path)?;
        for a in &index.artifacts {
            for f in a.files.all() {
                let ok = std::fs::metadata(dir.join(f)).map(|m| m.is_file()).unwrap_or(false);
                if !ok {
                    return Err(IndexError::MissingFile { result: result.to_path_buf(), file: f.to_string() });
                }
            }
        }
        Ok(ResultDir { dir, index })
    }

    /// The artifact whose image file is `file`.
    pub fn artifact(&self, file: &str) -> Option<&Artifact> {
        self.index.artifacts.iter().find(|a| a.files.image.as_str() == file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn id() -> String {
        format!("sha512-{}", "ab".repeat(64))
    }

    fn artifact(over: &[(&str, Value)]) -> Value {
        let mut v = json!({
            "kind": "aci",
            "name": "busybox",
            "version": "1.36.1",
            "os": "linux",
            "arch": "amd64",
            "storeLayout": "fat",
            "sign": true,
            "files": {
                "image": "busybox-1.36.1-linux-amd64.aci",
                "manifest": "busybox-1.36.1-linux-amd64.manifest",
                "id": "busybox-1.36.1-linux-amd64.id"
            },
            "digests": { "imageId": id() }
        });
        for (k, val) in over {
            let mut at = &mut v;
            let mut parts = k.split('.').peekable();
            while let Some(p) = parts.next() {
                if parts.peek().is_none() {
                    at[p] = val.clone();
                } else {
                    at = &mut at[p];
                }
            }
        }
        v
    }

    fn parse(v: Value) -> Result<Index, IndexError> {
        Index::parse(v.to_string().as_bytes(), Path::new("r/nix2aci.json"))
    }

    #[test]
    fn round_trip() {
        let index = parse(json!({"nix2aci": 2, "artifacts": [artifact(&[])]})).unwrap();
        assert_eq!(index.artifacts[0].digests.image_id.to_string(), id());
        let again = Index::parse(&index.to_json(), Path::new("x")).unwrap();
        assert_eq!(again, index);
        let thin = artifact(&[("storeLayout", "thin".into()), ("files.mounts", "b.mounts".into())]);
        let index = parse(json!({"nix2aci": 2, "artifacts": [thin]})).unwrap();
        assert_eq!(index.artifacts[0].files.mounts.as_ref().map(FileName::as_str), Some("b.mounts"));
        let unversioned = artifact(&[("version", Value::Null)]);
        assert_eq!(parse(json!({"nix2aci": 2, "artifacts": [unversioned]})).unwrap().artifacts[0].version, None);
    }

    #[test]
    fn bad_indexes() {
        let p = || PathBuf::from("r/nix2aci.json");
        let cases: Vec<(Value, IndexError)> = vec![
            (json!({"nix2aci": 1, "images": []}), IndexError::UnsupportedVersion { path: p(), found: 1 }),
            (json!({"nix2aci": 2, "artifacts": []}), IndexError::NoArtifacts { path: p() }),
            (
                json!({"nix2aci": 2, "artifacts": [artifact(&[("storeLayout", "thin".into())])]}),
                IndexError::MountsMismatch { path: p(), index: 0, layout: "thin", mounts: None },
            ),
            (
                json!({"nix2aci": 2, "artifacts": [artifact(&[("files.mounts", "a.mounts".into())])]}),
                IndexError::MountsMismatch { path: p(), index: 0, layout: "fat", mounts: Some("a.mounts".into()) },
            ),
            (
                json!({"nix2aci": 2, "artifacts": [artifact(&[]), artifact(&[])]}),
                IndexError::DuplicateFile {
                    path: p(),
                    index: 1,
                    first: 0,
                    file: "busybox-1.36.1-linux-amd64.aci".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input.clone()), Err(want), "{input}");
        }
        let malformed = [
            (artifact(&[("files.image", "../../etc/x.aci".into())]), "artifacts[0].files.image", "contains '/'"),
            (artifact(&[("files.id", ".hidden".into())]), "artifacts[0].files.id", "starts with '.'"),
            (artifact(&[("name", "Busy//box".into())]), "artifacts[0].name", "Busy//box"),
            (artifact(&[("digests.imageId", "sha512-00".into())]), "artifacts[0].digests.imageId", "sha512-00"),
            (artifact(&[("sign", "yes".into())]), "artifacts[0].sign", "boolean"),
            (artifact(&[("kind", "zip".into())]), "artifacts[0].kind", "zip"),
            (artifact(&[("storeLayout", "layered-ish".into())]), "artifacts[0].storeLayout", "layered-ish"),
            (artifact(&[("extra", 1.into())]), "artifacts[0].extra", "extra"),
        ];
        for (a, field, text) in malformed {
            match parse(json!({"nix2aci": 2, "artifacts": [a]})) {
                Err(IndexError::Malformed { field: f, message, .. }) => {
                    assert_eq!(f, field);
                    assert!(message.contains(text), "{message}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(Index::parse(b"not json", &p()), Err(IndexError::Malformed { .. })));
    }
}
