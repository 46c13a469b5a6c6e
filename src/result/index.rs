//! The result index `nix2aci.json`: the list of artifacts a build made, with
//! their files and digests. `mkaci build` writes it; postprocess, verify and
//! inspect read it instead of guessing file names. The format is described in
//! `docs/result-layout.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{AciFiles, FileName};
use crate::archive::digest::{self, Sha256Digest};
use crate::image::image_id::ImageId;
use crate::image::manifest::AcIdentifier;
use crate::image::plan::StoreLayout;

/// The file name of the index inside a result.
pub const INDEX_FILE: &str = "nix2aci.json";
/// The most bytes of `nix2aci.json` read: far above any index mkaci writes
/// (a layered image of thousands of store paths is a few MB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

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
    /// An OCI image layout directory ([`OciArtifact`]).
    OciLayout,
    /// An OCI image layout whose `index.json` tags an image index of one
    /// image per platform (`mkMultiArch`; [`OciIndexArtifact`]).
    OciIndex,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Aci => "aci",
            ArtifactKind::DependencyAci => "dependency-aci",
            ArtifactKind::OciLayout => "oci-layout",
            ArtifactKind::OciIndex => "oci-index",
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
    /// Bytes of the `.aci` file: what a manifest that depends on the image
    /// pins as the dependency's `size`. Absent in indexes of older builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A dependency image: the store paths it holds, in store order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub store_paths: Vec<String>,
}

/// The files of an OCI image layout artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciFiles {
    /// The image layout directory, `<base>.oci`.
    pub layout: FileName,
    /// The closure SBOM, `<base>.closure.json`, whose SHA-256 the config
    /// label `nix2aci.org/closure-sha256` pins; absent in results of an
    /// mkaci without SBOMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<FileName>,
}

/// The digests of an OCI image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciDigests {
    /// The manifest's digest (what `index.json` points at).
    #[serde(with = "digest::serde_str")]
    pub manifest: Sha256Digest,
    /// The config's digest: the image ID engines show.
    #[serde(with = "digest::serde_str")]
    pub config: Sha256Digest,
}

/// One OCI image layout of a result (kind `oci-layout`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciArtifact {
    /// Always [`ArtifactKind::OciLayout`].
    pub kind: ArtifactKind,
    /// The image name (the repository of the docker-archive's tag).
    pub name: AcIdentifier,
    /// The version; null when the image has none.
    pub version: Option<String>,
    /// The OCI os and architecture (Go's names: `amd64`, `arm64`).
    pub os: String,
    pub arch: String,
    /// The tag: `org.opencontainers.image.ref.name` in `index.json`.
    pub tag: String,
    /// How many layers the image has.
    pub layers: u32,
    pub files: OciFiles,
    pub digests: OciDigests,
    /// A declared layer's image (`mkLayer`'s `oci`): the store paths its one
    /// layer holds, in store order. Empty for an application image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub store_paths: Vec<String>,
}

/// One platform's image in an OCI image index layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciIndexPlatform {
    /// The OCI os, architecture and variant (Go's names: `amd64`, `arm64`,
    /// `arm` `v7`), as the image index's `platform` and the config give them.
    pub os: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How many layers the image has.
    pub layers: u32,
    pub digests: OciDigests,
    /// The image's closure SBOM, `<name>-<version>-<os>-<arch>.closure.json`
    /// beside the layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<FileName>,
}

/// The files of an OCI image index artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciIndexFiles {
    /// The image layout directory, `<name>-<version>.oci`.
    pub layout: FileName,
}

/// The digest of an OCI image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciIndexDigests {
    /// The image index blob's digest (what `index.json` points at, and what
    /// a registry serves for the tag).
    #[serde(with = "digest::serde_str")]
    pub index: Sha256Digest,
}

/// One OCI image layout holding the images of one name and version for
/// several platforms, under an image index (kind `oci-index`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciIndexArtifact {
    /// Always [`ArtifactKind::OciIndex`].
    pub kind: ArtifactKind,
    pub name: AcIdentifier,
    /// The version; null when the images have none.
    pub version: Option<String>,
    /// The tag `index.json` gives the image index.
    pub tag: String,
    pub files: OciIndexFiles,
    pub digests: OciIndexDigests,
    /// The images, in the order the image index lists them.
    pub platforms: Vec<OciIndexPlatform>,
}

/// `nix2aci.json`. In the file, `artifacts` is one list whose entries say
/// their `kind`; here the ACI kinds and the OCI layouts are kept apart,
/// since they have different files and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The format version, [`INDEX_VERSION`].
    pub nix2aci: u64,
    /// The entries of kind `aci` and `dependency-aci`.
    pub artifacts: Vec<Artifact>,
    /// The entries of kind `oci-layout`.
    pub oci_layouts: Vec<OciArtifact>,
    /// The entries of kind `oci-index`.
    pub oci_indexes: Vec<OciIndexArtifact>,
}

impl Serialize for Index {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Entry<'a> {
            Aci(&'a Artifact),
            Oci(&'a OciArtifact),
            OciIndex(&'a OciIndexArtifact),
        }
        #[derive(Serialize)]
        struct Raw<'a> {
            nix2aci: u64,
            artifacts: Vec<Entry<'a>>,
        }
        let artifacts = self
            .artifacts
            .iter()
            .map(Entry::Aci)
            .chain(self.oci_layouts.iter().map(Entry::Oci))
            .chain(self.oci_indexes.iter().map(Entry::OciIndex))
            .collect();
        Raw { nix2aci: self.nix2aci, artifacts }.serialize(s)
    }
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
    #[error("{result:?} lists the OCI image layout {file:?} but it is not a directory with an index.json there; rebuild the image")]
    MissingLayout { result: PathBuf, file: String },
}

impl Index {
    /// The index of a result holding these artifacts.
    pub fn new(artifacts: Vec<Artifact>) -> Index {
        Index { nix2aci: INDEX_VERSION, artifacts, oci_layouts: Vec::new(), oci_indexes: Vec::new() }
    }

    /// The index of a result holding these ACIs and OCI layouts.
    pub fn with_oci(artifacts: Vec<Artifact>, oci_layouts: Vec<OciArtifact>) -> Index {
        Index { nix2aci: INDEX_VERSION, artifacts, oci_layouts, oci_indexes: Vec::new() }
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
        // Each entry is read as the type its `kind` names, with errors at
        // their place in the file (`artifacts[2].files.image`).
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[allow(dead_code)]
            nix2aci: u64,
            artifacts: Vec<serde_json::Value>,
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: Raw =
            serde_path_to_error::deserialize(de).map_err(|e| malformed(e.path().to_string(), e.inner().to_string()))?;
        fn entry<T: serde::de::DeserializeOwned>(i: usize, v: &serde_json::Value) -> Result<T, (String, String)> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let at = e.path().to_string();
                let field = if at == "." { format!("artifacts[{i}]") } else { format!("artifacts[{i}].{at}") };
                (field, e.inner().to_string())
            })
        }
        let mut index = Index::new(Vec::new());
        // The position in the file of each entry, for messages.
        let mut acis: Vec<usize> = Vec::new();
        let mut ocis: Vec<usize> = Vec::new();
        let mut indexes: Vec<usize> = Vec::new();
        for (i, v) in raw.artifacts.iter().enumerate() {
            let kind = v.get("kind").and_then(|k| k.as_str());
            if kind == Some(ArtifactKind::OciIndex.as_str()) {
                index.oci_indexes.push(entry(i, v).map_err(|(f, m)| malformed(f, m))?);
                indexes.push(i);
            } else if kind == Some(ArtifactKind::OciLayout.as_str()) {
                index.oci_layouts.push(entry(i, v).map_err(|(f, m)| malformed(f, m))?);
                ocis.push(i);
            } else {
                index.artifacts.push(entry(i, v).map_err(|(f, m)| malformed(f, m))?);
                acis.push(i);
            }
        }
        // Every file name postprocess and verify make is made of these.
        let labels = index
            .artifacts
            .iter()
            .zip(&acis)
            .map(|(a, &i)| (i, a.version.as_deref(), a.os.as_str(), a.arch.as_str()))
            .chain(
                index
                    .oci_layouts
                    .iter()
                    .zip(&ocis)
                    .map(|(o, &i)| (i, o.version.as_deref(), o.os.as_str(), o.arch.as_str())),
            );
        // Where in the file, then the version, os, arch and variant there.
        type Parts<'a> = [Option<&'a str>; 4];
        let mut labels: Vec<(String, Parts)> =
            labels.map(|(i, v, os, arch)| (format!("artifacts[{i}]"), [v, Some(os), Some(arch), None])).collect();
        for (o, &i) in index.oci_indexes.iter().zip(&indexes) {
            labels.push((format!("artifacts[{i}]"), [o.version.as_deref(), None, None, None]));
            for (p, platform) in o.platforms.iter().enumerate() {
                labels.push((
                    format!("artifacts[{i}].platforms[{p}]"),
                    [None, Some(platform.os.as_str()), Some(platform.arch.as_str()), platform.variant.as_deref()],
                ));
            }
        }
        for (at, [version, os, arch, variant]) in labels {
            for (field, value) in [("version", version), ("os", os), ("arch", arch), ("variant", variant)] {
                let Some(value) = value else { continue };
                let problem = match crate::nix::names::name_part_problem(value) {
                    Some(p) => p,
                    None if value.is_empty() && field != "version" => "it is empty",
                    None => continue,
                };
                return Err(malformed(
                    format!("{at}.{field}"),
                    format!("{value:?} cannot go into a file name: {problem}"),
                ));
            }
        }
        if index.artifacts.is_empty() && index.oci_layouts.is_empty() && index.oci_indexes.is_empty() {
            return Err(IndexError::NoArtifacts { path: path.to_path_buf() });
        }
        // Each file belongs to one artifact.
        let mut seen: std::collections::BTreeMap<&FileName, usize> = Default::default();
        let mut claim = |f, index_no: usize| match seen.insert(f, index_no) {
            Some(first) => {
                Err(IndexError::DuplicateFile { path: path.to_path_buf(), index: index_no, first, file: f.to_string() })
            }
            None => Ok(()),
        };
        for (o, &index_no) in index.oci_layouts.iter().zip(&ocis) {
            for f in std::iter::once(&o.files.layout).chain(o.files.sbom.as_ref()) {
                claim(f, index_no)?;
            }
        }
        for (o, &index_no) in index.oci_indexes.iter().zip(&indexes) {
            if o.platforms.is_empty() {
                return Err(malformed(
                    format!("artifacts[{index_no}].platforms"),
                    "an OCI image index lists at least one platform's image".into(),
                ));
            }
            for f in std::iter::once(&o.files.layout).chain(o.platforms.iter().filter_map(|p| p.sbom.as_ref())) {
                claim(f, index_no)?;
            }
        }
        for (a, &index_no) in index.artifacts.iter().zip(&acis) {
            if a.kind == ArtifactKind::OciLayout || a.kind == ArtifactKind::OciIndex {
                return Err(malformed(
                    format!("artifacts[{index_no}].kind"),
                    format!("an ACI entry cannot be {}", a.kind.as_str()),
                ));
            }
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
                claim(f, index_no)?;
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
        // A result is untrusted input: the index must be a regular file of a
        // sane size (a link to /dev/zero or a FIFO is refused unread).
        let bytes = match crate::archive::untrusted::read_bounded(&path, MAX_INDEX_BYTES, "a result index") {
            Ok(b) => b,
            Err(crate::archive::untrusted::UntrustedFileError::Io { source: e, .. })
                if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory =>
            {
                return Err(IndexError::MissingIndex { result: result.to_path_buf() })
            }
            Err(e) => return Err(IndexError::Unreadable { path, message: e.to_string() }),
        };
        let index = Index::parse(&bytes, &path)?;
        for o in &index.oci_layouts {
            if !dir.join(&o.files.layout).join("index.json").is_file() {
                return Err(IndexError::MissingLayout {
                    result: result.to_path_buf(),
                    file: o.files.layout.to_string(),
                });
            }
            if let Some(f) = &o.files.sbom {
                if !std::fs::metadata(dir.join(f)).map(|m| m.is_file()).unwrap_or(false) {
                    return Err(IndexError::MissingFile { result: result.to_path_buf(), file: f.to_string() });
                }
            }
        }
        for o in &index.oci_indexes {
            if !dir.join(&o.files.layout).join("index.json").is_file() {
                return Err(IndexError::MissingLayout {
                    result: result.to_path_buf(),
                    file: o.files.layout.to_string(),
                });
            }
            for f in o.platforms.iter().filter_map(|p| p.sbom.as_ref()) {
                if !std::fs::metadata(dir.join(f)).map(|m| m.is_file()).unwrap_or(false) {
                    return Err(IndexError::MissingFile { result: result.to_path_buf(), file: f.to_string() });
                }
            }
        }
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
        // The SBOM is listed when there is one; results without one (an older
        // mkaci) still read.
        let with = artifact(&[("files.sbom", "busybox-1.36.1-linux-amd64.closure.json".into())]);
        let index =
            parse(json!({"nix2aci": 2, "artifacts": [with, oci(&[("files.sbom", "o.closure.json".into())])]})).unwrap();
        assert_eq!(
            index.artifacts[0].files.sbom.as_ref().map(FileName::as_str),
            Some("busybox-1.36.1-linux-amd64.closure.json")
        );
        assert_eq!(index.oci_layouts[0].files.sbom.as_ref().map(FileName::as_str), Some("o.closure.json"));
        assert_eq!(Index::parse(&index.to_json(), Path::new("x")).unwrap(), index);
        assert_eq!(parse(json!({"nix2aci": 2, "artifacts": [artifact(&[])]})).unwrap().artifacts[0].files.sbom, None);
        let json: Value =
            serde_json::from_slice(&parse(json!({"nix2aci": 2, "artifacts": [artifact(&[])]})).unwrap().to_json())
                .unwrap();
        assert_eq!(json["artifacts"][0]["files"].get("sbom"), None);
    }

    fn oci(over: &[(&str, Value)]) -> Value {
        let mut v = json!({
            "kind": "oci-layout",
            "name": "busybox",
            "version": "1.36.1",
            "os": "linux",
            "arch": "arm64",
            "tag": "1.36.1",
            "layers": 3,
            "files": { "layout": "busybox-1.36.1-linux-arm64.oci" },
            "digests": { "manifest": format!("sha256:{}", "ab".repeat(32)), "config": format!("sha256:{}", "cd".repeat(32)) }
        });
        for (k, val) in over {
            let (a, b) = k.split_once('.').map(|(a, b)| (a, Some(b))).unwrap_or((k, None));
            match b {
                Some(b) => v[a][b] = val.clone(),
                None => v[a] = val.clone(),
            }
        }
        v
    }

    fn oci_index(platforms: Value) -> Value {
        json!({
            "kind": "oci-index",
            "name": "busybox",
            "version": "1.36.1",
            "tag": "1.36.1",
            "files": { "layout": "busybox-1.36.1.oci" },
            "digests": { "index": format!("sha256:{}", "ef".repeat(32)) },
            "platforms": platforms
        })
    }

    fn platform(arch: &str, variant: Option<&str>) -> Value {
        let mut p = json!({
            "os": "linux",
            "arch": arch,
            "layers": 2,
            "digests": { "manifest": format!("sha256:{}", "ab".repeat(32)), "config": format!("sha256:{}", "cd".repeat(32)) },
            "sbom": format!("busybox-1.36.1-linux-{}.closure.json", arch.replace('/', "_"))
        });
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        p
    }

    #[test]
    fn oci_indexes_round_trip() {
        let platforms = json!([platform("amd64", None), platform("arm", Some("v7"))]);
        let index = parse(json!({"nix2aci": 2, "artifacts": [oci_index(platforms)]})).unwrap();
        assert_eq!((index.artifacts.len(), index.oci_layouts.len(), index.oci_indexes.len()), (0, 0, 1));
        let o = &index.oci_indexes[0];
        assert_eq!(o.kind, ArtifactKind::OciIndex);
        assert_eq!(o.files.layout.as_str(), "busybox-1.36.1.oci");
        assert_eq!(o.platforms[1].variant.as_deref(), Some("v7"));
        assert_eq!(o.platforms[0].variant, None);
        assert_eq!(Index::parse(&index.to_json(), Path::new("x")).unwrap(), index);
        let json: Value = serde_json::from_slice(&index.to_json()).unwrap();
        assert_eq!(json["artifacts"][0]["kind"], "oci-index");
        assert_eq!(json["artifacts"][0]["platforms"][0].get("variant"), None);

        // No platform, a variant that cannot go into a name, two platforms
        // claiming one SBOM, an unknown key: refused, naming the field.
        let err = parse(json!({"nix2aci": 2, "artifacts": [oci_index(json!([]))]})).unwrap_err();
        assert!(matches!(&err, IndexError::Malformed { field, .. } if field == "artifacts[0].platforms"), "{err}");
        let err = parse(json!({"nix2aci": 2, "artifacts": [oci_index(json!([platform("a/b", None)]))]})).unwrap_err();
        assert!(
            matches!(&err, IndexError::Malformed { field, .. } if field == "artifacts[0].platforms[0].arch"),
            "{err}"
        );
        let err = parse(json!({"nix2aci": 2, "artifacts": [oci_index(json!([platform("arm", Some("v\n7"))]))]}));
        assert!(
            matches!(&err, Err(IndexError::Malformed { field, .. }) if field == "artifacts[0].platforms[0].variant")
        );
        let twice = json!([platform("amd64", None), platform("amd64", Some("v2"))]);
        let err = parse(json!({"nix2aci": 2, "artifacts": [oci_index(twice)]})).unwrap_err();
        assert!(matches!(err, IndexError::DuplicateFile { .. }), "{err}");
        let mut extra = oci_index(json!([platform("amd64", None)]));
        extra["sign"] = true.into();
        let err = parse(json!({"nix2aci": 2, "artifacts": [extra]})).unwrap_err();
        assert!(matches!(&err, IndexError::Malformed { field, .. } if field.starts_with("artifacts[0]")), "{err}");
    }

    #[test]
    fn oci_layouts_round_trip_beside_acis() {
        let index = parse(json!({"nix2aci": 2, "artifacts": [oci(&[]), artifact(&[])]})).unwrap();
        assert_eq!(index.artifacts.len(), 1);
        assert_eq!(index.oci_layouts.len(), 1);
        let o = &index.oci_layouts[0];
        assert_eq!(o.kind, ArtifactKind::OciLayout);
        assert_eq!(o.files.layout.as_str(), "busybox-1.36.1-linux-arm64.oci");
        assert_eq!(o.digests.config.to_string(), format!("sha256:{}", "cd".repeat(32)));
        let json: Value = serde_json::from_slice(&index.to_json()).unwrap();
        // Written ACIs first, then the layouts; read back the same.
        assert_eq!(json["artifacts"][1]["kind"], "oci-layout");
        assert_eq!(Index::parse(&index.to_json(), Path::new("x")).unwrap(), index);
        let only = parse(json!({"nix2aci": 2, "artifacts": [oci(&[])]})).unwrap();
        assert!(only.artifacts.is_empty());
        let cases = [
            (oci(&[("digests.manifest", "sha256:00".into())]), "artifacts[0].digests.manifest", "not a digest"),
            (oci(&[("files.layout", "a/b.oci".into())]), "artifacts[0].files.layout", "contains '/'"),
            (oci(&[("sign", true.into())]), "artifacts[0].sign", "sign"),
            (oci(&[("storeLayout", "fat".into())]), "artifacts[0].storeLayout", "storeLayout"),
        ];
        for (a, field, text) in cases {
            match parse(json!({"nix2aci": 2, "artifacts": [a]})) {
                Err(IndexError::Malformed { field: f, message, .. }) => {
                    assert_eq!(f, field);
                    assert!(message.contains(text), "{message}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        let shared = "busybox-1.36.1-linux-amd64.closure.json";
        assert_eq!(
            parse(
                json!({"nix2aci": 2, "artifacts": [oci(&[("files.sbom", shared.into())]), artifact(&[("files.sbom", shared.into())])]})
            ),
            Err(IndexError::DuplicateFile {
                path: PathBuf::from("r/nix2aci.json"),
                index: 1,
                first: 0,
                file: shared.into()
            })
        );
        assert_eq!(
            parse(json!({"nix2aci": 2, "artifacts": [oci(&[]), oci(&[])]})),
            Err(IndexError::DuplicateFile {
                path: PathBuf::from("r/nix2aci.json"),
                index: 1,
                first: 0,
                file: "busybox-1.36.1-linux-arm64.oci".into()
            })
        );
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
            // The labels file names are made of: a '/' or a control character
            // would make a path or an unprintable name.
            (artifact(&[("version", "1/../../x".into())]), "artifacts[0].version", "contains '/'"),
            (artifact(&[("os", "linux\n".into())]), "artifacts[0].os", "control character"),
            (artifact(&[("arch", "".into())]), "artifacts[0].arch", "empty"),
            (oci(&[("arch", "a/b".into())]), "artifacts[0].arch", "contains '/'"),
            (oci(&[("version", "\u{1b}[2J".into())]), "artifacts[0].version", "control character"),
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

#[cfg(test)]
mod untrusted_tests {
    use super::*;

    #[test]
    fn an_index_that_is_not_a_regular_file_is_refused_unread() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", t.path().join(INDEX_FILE)).unwrap();
        let e = ResultDir::read(t.path()).unwrap_err();
        assert!(matches!(&e, IndexError::Unreadable { message, .. } if message.contains("not a regular file")), "{e}");
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(ResultDir::read(missing.path()), Err(IndexError::MissingIndex { .. })));
    }
}
