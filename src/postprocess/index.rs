//! The result index `nix2aci.json` written by `mkaci build` (see
//! `docs/result-layout.md`), read back outside the sandbox. Everything
//! postprocess touches is checked here once: file names are plain names inside
//! the result, every listed file exists, and thin images name their `.mounts`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::image_id::{ImageId, ImageIdError};
use crate::manifest::{AcIdentifier, AcIdentifierError};

/// The file name of the index inside a result.
pub const INDEX_FILE: &str = "nix2aci.json";
/// The only index format version this mkaci reads.
pub const INDEX_VERSION: u64 = 1;

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
        "{path:?} is not a valid nix2aci index: {message} at {field}; it should come from \
         `mkaci build`, rebuild the image"
    )]
    Malformed { path: PathBuf, field: String, message: String },
    #[error(
        "{path:?} has format version {found}, this mkaci reads version {INDEX_VERSION}; run the \
         postprocess.sh of the same result, which calls the matching mkaci"
    )]
    UnsupportedVersion { path: PathBuf, found: u64 },
    #[error("{path:?} lists no images; rebuild the image with mkACI")]
    NoImages { path: PathBuf },
    #[error(
        "{path:?}: images[{index}].{field} is {value:?}, which is not a plain file name {expected}; \
         rebuild the image with mkACI"
    )]
    BadFileName { path: PathBuf, index: usize, field: &'static str, value: String, expected: &'static str },
    #[error("{path:?}: images[{index}].imageId: {error}; rebuild the image with mkACI")]
    BadImageId { path: PathBuf, index: usize, error: ImageIdError },
    #[error(
        "{path:?}: images[{index}] has thin = {thin} but mounts = {mounts:?}; a thin image names \
         its .mounts file and a fat one has mounts = null; rebuild the image with mkACI"
    )]
    MountsMismatch { path: PathBuf, index: usize, thin: bool, mounts: Option<String> },
    #[error("{path:?}: images[{index}].name: {error}; rebuild the image with mkACI")]
    BadName { path: PathBuf, index: usize, error: AcIdentifierError },
    #[error("{result:?} lists {file:?} but it is not a regular file there; rebuild the image")]
    MissingFile { result: PathBuf, file: String },
}

/// `nix2aci.json` as it is on disk: written by `mkaci build`, read back (and
/// then checked into [`IndexedImage`]s) by postprocess.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawIndex {
    /// The format version, [`INDEX_VERSION`].
    pub nix2aci: u64,
    pub images: Vec<RawImage>,
}

/// One image of `nix2aci.json`, unchecked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawImage {
    pub file: String,
    pub name: String,
    pub version: Option<String>,
    pub os: String,
    pub arch: String,
    pub image_id: String,
    pub manifest: String,
    pub mounts: Option<String>,
    pub thin: bool,
    pub sign: bool,
}

/// One image of a result, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedImage {
    /// `<base>.aci`, a plain file name.
    pub file: String,
    /// The image name, used as the `rkt trust --prefix`.
    pub name: AcIdentifier,
    /// The `version` label; `mkaci build` writes null when the image has none.
    pub version: Option<String>,
    pub os: String,
    pub arch: String,
    pub image_id: ImageId,
    /// `<base>.manifest`, a plain file name.
    pub manifest: String,
    /// `<base>.mounts` for thin images, else `None`.
    pub mounts: Option<String>,
    /// Whether mkACI asked for a signature (`sign`).
    pub sign: bool,
}

/// A result directory (canonical path, normally in the Nix store) and its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultIndex {
    pub dir: PathBuf,
    pub images: Vec<IndexedImage>,
}

impl ResultIndex {
    /// Reads and checks `RESULT/nix2aci.json`. `result` may be a symlink such
    /// as `./result`; the returned `dir` is the resolved path, so links made
    /// from it point into the store and not at the `result` symlink.
    pub fn read(result: &Path) -> Result<ResultIndex, IndexError> {
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
        let images = parse_index(&bytes, &path)?;
        for image in &images {
            let mut files = vec![&image.file, &image.manifest];
            files.extend(image.mounts.as_ref());
            for f in files {
                let ok = std::fs::metadata(dir.join(f)).map(|m| m.is_file()).unwrap_or(false);
                if !ok {
                    return Err(IndexError::MissingFile { result: result.to_path_buf(), file: f.clone() });
                }
            }
        }
        Ok(ResultIndex { dir, images })
    }
}

/// Parses the bytes of a `nix2aci.json`; `path` is only for messages.
pub fn parse_index(bytes: &[u8], path: &Path) -> Result<Vec<IndexedImage>, IndexError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let raw: RawIndex = serde_path_to_error::deserialize(de).map_err(|e| IndexError::Malformed {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    if raw.nix2aci != INDEX_VERSION {
        return Err(IndexError::UnsupportedVersion { path: path.to_path_buf(), found: raw.nix2aci });
    }
    if raw.images.is_empty() {
        return Err(IndexError::NoImages { path: path.to_path_buf() });
    }
    raw.images
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let bad = |field, value: &str, expected| IndexError::BadFileName {
                path: path.to_path_buf(),
                index,
                field,
                value: value.to_string(),
                expected,
            };
            if !is_plain_name(&r.file, ".aci") {
                return Err(bad("file", &r.file, "ending in .aci"));
            }
            if !is_plain_name(&r.manifest, ".manifest") {
                return Err(bad("manifest", &r.manifest, "ending in .manifest"));
            }
            if let Some(m) = &r.mounts {
                if !is_plain_name(m, ".mounts") {
                    return Err(bad("mounts", m, "ending in .mounts"));
                }
            }
            if r.thin != r.mounts.is_some() {
                return Err(IndexError::MountsMismatch {
                    path: path.to_path_buf(),
                    index,
                    thin: r.thin,
                    mounts: r.mounts,
                });
            }
            let name = r.name.parse::<AcIdentifier>().map_err(|error| IndexError::BadName {
                path: path.to_path_buf(),
                index,
                error,
            })?;
            let image_id = r.image_id.parse::<ImageId>().map_err(|error| IndexError::BadImageId {
                path: path.to_path_buf(),
                index,
                error,
            })?;
            Ok(IndexedImage {
                file: r.file,
                name,
                version: r.version,
                os: r.os,
                arch: r.arch,
                image_id,
                manifest: r.manifest,
                mounts: r.mounts,
                sign: r.sign,
            })
        })
        .collect()
}

/// A name that stays inside the directory it is joined to: no `/`, not hidden
/// (postprocess keeps its temporary files hidden), no control characters.
fn is_plain_name(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len()
        && name.ends_with(suffix)
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> String {
        format!("sha512-{}", "ab".repeat(64))
    }

    fn image(over: &[(&str, serde_json::Value)]) -> serde_json::Value {
        let mut v = serde_json::json!({
            "file": "busybox-1.36.1-linux-amd64.aci",
            "name": "busybox",
            "version": "1.36.1",
            "os": "linux",
            "arch": "amd64",
            "imageId": id(),
            "manifest": "busybox-1.36.1-linux-amd64.manifest",
            "mounts": null,
            "thin": false,
            "sign": true
        });
        for (k, val) in over {
            v[*k] = val.clone();
        }
        v
    }

    fn parse(v: serde_json::Value) -> Result<Vec<IndexedImage>, IndexError> {
        parse_index(v.to_string().as_bytes(), Path::new("r/nix2aci.json"))
    }

    #[test]
    fn good_index() {
        let images = parse(serde_json::json!({"nix2aci": 1, "images": [image(&[])]})).unwrap();
        assert_eq!(images[0].file, "busybox-1.36.1-linux-amd64.aci");
        assert_eq!(images[0].image_id.to_string(), id());
        assert!(images[0].sign);
        let unversioned = image(&[("version", serde_json::Value::Null)]);
        let images = parse(serde_json::json!({"nix2aci": 1, "images": [unversioned]})).unwrap();
        assert_eq!(images[0].version, None);
        let thin = image(&[("thin", true.into()), ("mounts", "b.mounts".into()), ("name", "example.com/bb-x".into())]);
        let images = parse(serde_json::json!({"nix2aci": 1, "images": [thin]})).unwrap();
        assert_eq!(images[0].mounts.as_deref(), Some("b.mounts"));
    }

    #[test]
    fn bad_indexes() {
        let p = || PathBuf::from("r/nix2aci.json");
        let bad_name = |field, value: &str, expected| IndexError::BadFileName {
            path: p(),
            index: 0,
            field,
            value: value.into(),
            expected,
        };
        let cases: Vec<(serde_json::Value, IndexError)> = vec![
            (
                serde_json::json!({"nix2aci": 2, "images": [image(&[])]}),
                IndexError::UnsupportedVersion { path: p(), found: 2 },
            ),
            (serde_json::json!({"nix2aci": 1, "images": []}), IndexError::NoImages { path: p() }),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("file", "../../etc/x.aci".into())])]}),
                bad_name("file", "../../etc/x.aci", "ending in .aci"),
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("file", "x.tar".into())])]}),
                bad_name("file", "x.tar", "ending in .aci"),
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("file", ".aci".into())])]}),
                bad_name("file", ".aci", "ending in .aci"),
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("manifest", "/m.manifest".into())])]}),
                bad_name("manifest", "/m.manifest", "ending in .manifest"),
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("thin", true.into())])]}),
                IndexError::MountsMismatch { path: p(), index: 0, thin: true, mounts: None },
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("mounts", "a.mounts".into())])]}),
                IndexError::MountsMismatch { path: p(), index: 0, thin: false, mounts: Some("a.mounts".into()) },
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("name", "Busy//box".into())])]}),
                IndexError::BadName {
                    path: p(),
                    index: 0,
                    error: AcIdentifierError::InvalidChar { value: "Busy//box".into(), ch: 'B', pos: 0 },
                },
            ),
            (
                serde_json::json!({"nix2aci": 1, "images": [image(&[("imageId", "sha512-00".into())])]}),
                IndexError::BadImageId {
                    path: p(),
                    index: 0,
                    error: ImageIdError::InvalidLength { value: "sha512-00".into(), len: 2 },
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input.clone()), Err(want), "{input}");
        }
        match parse(serde_json::json!({"nix2aci": 1, "images": [image(&[("sign", "yes".into())])]})) {
            Err(IndexError::Malformed { field, .. }) => assert_eq!(field, "images[0].sign"),
            other => panic!("{other:?}"),
        }
        match parse_index(b"not json", &p()) {
            Err(IndexError::Malformed { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
