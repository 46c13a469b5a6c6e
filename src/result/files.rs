//! The names of the files a result holds. Every name is made here, once, from
//! the image's name, version, os and arch; nothing else edits file names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::image::manifest::{AcIdentifier, ImageManifest};

/// A plain file name inside a result or a publishing directory: not empty, no
/// `/`, not hidden (temporary files are hidden), no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

/// Why a string is not a [`FileName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("{value:?} is not a plain file name: {problem}")]
    NotPlain { value: String, problem: &'static str },
}

impl FileName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileName {
    type Error = FileNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let problem = if value.is_empty() {
            Some("it is empty")
        } else if value.contains('/') {
            Some("it contains '/'")
        } else if value.starts_with('.') {
            Some("it starts with '.'")
        } else if value.chars().any(char::is_control) {
            Some("it contains a control character")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(FileNameError::NotPlain { value, problem }),
            None => Ok(FileName(value)),
        }
    }
}

impl From<FileName> for String {
    fn from(f: FileName) -> String {
        f.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<std::path::Path> for FileName {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// The base of an image's file names, `<last part of name>-<version>-<os>-<arch>`
/// (the pattern appc discovery fills in), from which every file name of the
/// image is made by adding one extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBase(String);

impl ImageBase {
    /// The base of an image with this name and these labels; `latest` stands
    /// in for a missing version.
    pub fn new(name: &AcIdentifier, version: Option<&str>, os: &str, arch: &str) -> ImageBase {
        ImageBase(crate::nix::names::image_base_name(name.last_component(), version, os, arch))
    }

    /// The base of the files one name and version has for every platform,
    /// `<last part of name>-<version>` (an OCI image index layout).
    pub fn multi_arch(name: &AcIdentifier, version: Option<&str>) -> ImageBase {
        ImageBase(crate::nix::names::multi_arch_base_name(name.last_component(), version))
    }

    /// The base of the image this manifest describes; `None` without os and
    /// arch labels.
    pub fn of_manifest(m: &ImageManifest) -> Option<ImageBase> {
        Some(ImageBase::new(&m.name, m.label("version"), m.label("os")?, m.label("arch")?))
    }

    fn with(&self, ext: &str) -> FileName {
        plain(format!("{}{ext}", self.0))
    }

    /// `<base>.aci`
    pub fn aci(&self) -> FileName {
        plain(crate::nix::names::aci_file_name(&self.0))
    }

    /// `<base>.oci`: an OCI image layout directory (the base made with the
    /// OCI platform's os and architecture).
    pub fn oci_layout(&self) -> FileName {
        plain(crate::nix::names::oci_layout_name(&self.0))
    }

    /// `<base>.docker.tar`: the docker-archive postprocess writes for an OCI
    /// image.
    pub fn docker_archive(&self) -> FileName {
        self.with(".docker.tar")
    }

    /// `<base>.closure.json`: the image's closure SBOM ([`crate::image::sbom`]).
    pub fn closure_sbom(&self) -> FileName {
        self.with(crate::image::sbom::SBOM_SUFFIX)
    }
}

/// A name made from a base name: plain, since the base is made of an AC
/// Identifier's last component (no `/`, not starting with `.`), a version
/// without `/` or control characters, and an os and arch.
fn plain(name: String) -> FileName {
    FileName::try_from(name).expect("a name made from an image's base name is a plain name")
}

/// The file postprocess exports the signing keys to, in a publishing
/// directory: the name appc meta discovery serves (`ac-discovery-pubkeys`).
pub const PUBKEY_FILE: &str = "pubkeys.gpg";

/// The files of one ACI artifact in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AciFiles {
    /// The image, `<base>.aci`.
    pub image: FileName,
    /// Its manifest, pretty-printed, `<base>.manifest`.
    pub manifest: FileName,
    /// Its image ID and a newline, `<base>.id`.
    pub id: FileName,
    /// Thin images: the rkt `--volume` arguments, `<base>.mounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<FileName>,
    /// The closure SBOM, `<base>.closure.json`, whose SHA-256 the manifest
    /// pins; absent in results of an mkaci without SBOMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<FileName>,
}

impl AciFiles {
    /// The files of an image with this base; `mounts` only for thin images.
    /// No `sbom`: [`AciFiles::with_sbom`] adds it.
    pub fn new(base: &ImageBase, thin: bool) -> AciFiles {
        AciFiles {
            image: base.aci(),
            manifest: base.with(".manifest"),
            id: base.with(".id"),
            mounts: thin.then(|| base.with(".mounts")),
            sbom: None,
        }
    }

    /// These files and the closure SBOM `<base>.closure.json`.
    pub fn with_sbom(self, base: &ImageBase) -> AciFiles {
        AciFiles { sbom: Some(base.closure_sbom()), ..self }
    }

    /// Every file, the image first.
    pub fn all(&self) -> impl Iterator<Item = &FileName> {
        [&self.image, &self.manifest, &self.id].into_iter().chain(self.mounts.as_ref()).chain(self.sbom.as_ref())
    }
}

/// `<file>.asc`, the detached signature published beside an image.
pub fn signature_name(image: &FileName) -> FileName {
    FileName(format!("{}.asc", image.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let ok = ["a.aci", "busybox-1.35.0-linux-amd64.aci", "x"];
        for v in ok {
            assert_eq!(FileName::try_from(v.to_string()).unwrap().as_str(), v);
        }
        let bad = [
            ("", "it is empty"),
            ("a/b", "it contains '/'"),
            (".x", "it starts with '.'"),
            ("a\nb", "it contains a control character"),
        ];
        for (v, problem) in bad {
            assert_eq!(
                FileName::try_from(v.to_string()),
                Err(FileNameError::NotPlain { value: v.to_string(), problem }),
                "{v:?}"
            );
        }
    }

    #[test]
    fn aci_files_share_one_base() {
        let name: AcIdentifier = "example.com/tools/busybox".parse().unwrap();
        let base = ImageBase::new(&name, Some("1.35.0"), "linux", "amd64");
        let f = AciFiles::new(&base, true).with_sbom(&base);
        let names: Vec<&str> = f.all().map(FileName::as_str).collect();
        assert_eq!(
            names,
            [
                "busybox-1.35.0-linux-amd64.aci",
                "busybox-1.35.0-linux-amd64.manifest",
                "busybox-1.35.0-linux-amd64.id",
                "busybox-1.35.0-linux-amd64.mounts",
                "busybox-1.35.0-linux-amd64.closure.json"
            ]
        );
        let fat = AciFiles::new(&ImageBase::new(&name, None, "linux", "aarch64"), false);
        assert_eq!(fat.image.as_str(), "busybox-latest-linux-aarch64.aci");
        assert_eq!(fat.mounts, None);
        assert_eq!(signature_name(&fat.image).as_str(), "busybox-latest-linux-aarch64.aci.asc");
    }
}
