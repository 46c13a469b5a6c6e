//! The closure SBOM: `<base>.closure.json`, written beside every image of a
//! result, lists each store path of the image's closure with what Nix
//! recorded for it (`narHash`, `narSize`, `references`), the package name and
//! version its name gives ([`crate::nix::store_path::DrvName`]), and where the
//! image puts it ([`Placement`]). `docs/result-layout.md` describes the file.
//!
//! The image pins the file's bytes: the SHA-256 of the file, written
//! `sha256-<64 hex>` ([`ClosurePin`]), is the manifest annotation
//! [`ANNOTATION`] of an ACI and the config label of the same name of an OCI
//! image. The SBOM names the image but never its ID or digests (those cover
//! the pin), so it can be written before the image. `mkaci verify` and
//! `mkaci inspect --sbom` find the file beside the image ([`sbom_beside`]) and
//! check it against the pin ([`check_beside`]).
//!
//! The bytes are deterministic: keys sorted at every level, paths sorted,
//! references sorted, no timestamps, pretty-printed with a final newline.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::image::manifest::{AcIdentifier, AcName, Annotation, ImageManifest};
use crate::image::plan::StoreLayout;
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath};

/// The manifest annotation (ACI) and config label (OCI) that pins the SBOM.
/// An AC Identifier under the `nix2aci.org/` prefix; a user's annotation (or
/// OCI label) of this name is refused.
pub const ANNOTATION: &str = "nix2aci.org/closure-sha256";
/// The format version of the file, its key `nix2aciClosure`.
pub const SBOM_VERSION: u64 = 1;
/// What the file name of an SBOM adds to the image's base name.
pub const SBOM_SUFFIX: &str = ".closure.json";

/// Where an image puts a store path of its closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Placement {
    /// Inside the image (a fat ACI, an OCI image's layers).
    Contents,
    /// A read-only host mount of a thin ACI: the mount point `mount`
    /// (`nix-<hash>`) at the store path.
    ThinMount { mount: AcName },
    /// In another image, listed under the app image's `dependencies`, that
    /// holds it: `image` is that dependency's name. (Written by layered
    /// builds; a caller sets it with [`ClosureSbom::set_placement`].)
    DependencyAci { image: AcIdentifier },
}

impl Placement {
    /// The thin mount of `path`: `nix-<hash>`, as [`crate::image::spec::from_spec`] names it.
    pub fn thin_mount(path: &StorePath) -> Placement {
        let mount = format!("nix-{}", path.hash())
            .parse()
            .expect("a store path hash is 32 characters of 0-9 and a-z, so nix-<hash> is an AC Name");
        Placement::ThinMount { mount }
    }

    /// Where an ACI with `layout` puts every store path.
    pub fn of_layout(layout: StoreLayout, path: &StorePath) -> Placement {
        match layout {
            StoreLayout::Fat => Placement::Contents,
            StoreLayout::Thin => Placement::thin_mount(path),
            // Each path is in a dependency image, which the builder names
            // with set_placement once it knows it.
            StoreLayout::Layered => Placement::Contents,
        }
    }
}

/// The kind of image an SBOM describes (as in the result index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    Aci,
    DependencyAci,
    OciLayout,
}

/// The image an SBOM belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SbomImage {
    pub kind: ImageKind,
    pub name: AcIdentifier,
    /// The `version` label; null when the image has none.
    pub version: Option<String>,
    /// appc's os and arch for an ACI, the OCI platform's for an OCI image.
    pub os: String,
    pub arch: String,
    /// The user's labels (for an ACI, the manifest's labels less os, arch
    /// and version; for an OCI image, the config's labels less the pin).
    pub labels: BTreeMap<String, String>,
}

impl SbomImage {
    /// The image an ACI manifest describes.
    pub fn of_manifest(kind: ImageKind, m: &ImageManifest) -> SbomImage {
        let label = |n: &str| m.label(n).unwrap_or_default().to_string();
        SbomImage {
            kind,
            name: m.name.clone(),
            version: m.label("version").map(str::to_string),
            os: label("os"),
            arch: label("arch"),
            labels: m
                .labels
                .iter()
                .filter(|l| !matches!(l.name.as_str(), "os" | "arch" | "version"))
                .map(|l| (l.name.to_string(), l.value.clone()))
                .collect(),
        }
    }
}

/// One store path of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SbomPath {
    /// The full store path.
    pub path: String,
    /// The package name of the path's name (`builtins.parseDrvName`).
    pub name: String,
    /// Its version; null when the name has none.
    pub version: Option<String>,
    /// As Nix reported it in the closure, `sha256:<Nix base-32>`; null when
    /// Nix reported none.
    pub nar_hash: Option<String>,
    pub nar_size: Option<u64>,
    /// The full store paths it refers to (itself included when it does),
    /// sorted.
    pub references: Vec<String>,
    pub placement: Placement,
}

/// The document `<base>.closure.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClosureSbom {
    /// The format version, [`SBOM_VERSION`].
    pub nix2aci_closure: u64,
    pub image: SbomImage,
    pub store_dir: String,
    /// The image's packages (the roots of the closure), sorted.
    pub packages: Vec<String>,
    /// Every store path of the closure, sorted.
    pub paths: Vec<SbomPath>,
}

/// Why an SBOM could not be read or does not match its image. Each message
/// names the file, the hashes and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error(
        "{image:?} pins no closure SBOM: it has no {ANNOTATION} annotation (an OCI image: config \
         label); it was built by an mkaci without closure SBOMs: rebuild it to get {sbom:?}"
    )]
    NotPinned { image: PathBuf, sbom: PathBuf },
    #[error(
        "{image:?}: the pin {ANNOTATION} = {value:?} is not sha256- and 64 lowercase hex digits; \
         rebuild the image"
    )]
    BadPin { image: PathBuf, value: String },
    #[error(
        "the closure SBOM {sbom:?} of {image:?} cannot be read ({message}); the image pins \
         {expected}. Publish it beside the image by running the result's postprocess.sh again \
         (it writes <base>.closure.json next to <base>.aci), or rebuild the image"
    )]
    Missing { sbom: PathBuf, image: PathBuf, expected: ClosurePin, message: String },
    #[error(
        "the closure SBOM {sbom:?} has SHA-256 {actual}, but {image:?} pins {expected} \
         ({ANNOTATION}): the file was changed or belongs to another build. Publish the one \
         from the image's result by running its postprocess.sh again, or rebuild the image"
    )]
    Mismatch { sbom: PathBuf, image: PathBuf, expected: ClosurePin, actual: ClosurePin },
}

impl ClosureSbom {
    /// The SBOM of `image`: every path of `closure` (in `store`), placed by
    /// `placement`, with `packages` as the roots.
    pub fn new(
        image: SbomImage,
        store: &StoreDir,
        closure: &Closure,
        packages: &[StorePath],
        placement: impl Fn(&StorePath) -> Placement,
    ) -> ClosureSbom {
        let mut packages: Vec<String> = packages.iter().map(|p| store.display(p)).collect();
        packages.sort();
        packages.dedup();
        let mut paths: Vec<SbomPath> = closure
            .paths()
            .iter()
            .map(|info| {
                let drv = info.path.drv_name();
                let mut references: Vec<String> = info.references.iter().map(|r| store.display(r)).collect();
                references.sort();
                references.dedup();
                SbomPath {
                    path: store.display(&info.path),
                    name: drv.name.to_string(),
                    version: drv.version.map(str::to_string),
                    nar_hash: info.nar_hash.map(|h| h.to_string()),
                    nar_size: info.nar_size,
                    references,
                    placement: placement(&info.path),
                }
            })
            .collect();
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        ClosureSbom { nix2aci_closure: SBOM_VERSION, image, store_dir: store.as_str().to_string(), packages, paths }
    }

    /// The SBOM of an ACI with this (final, unpinned) manifest and store layout.
    pub fn for_aci(
        store: &StoreDir,
        closure: &Closure,
        packages: &[StorePath],
        m: &ImageManifest,
        layout: StoreLayout,
    ) -> ClosureSbom {
        let image = SbomImage::of_manifest(ImageKind::Aci, m);
        ClosureSbom::new(image, store, closure, packages, |p| Placement::of_layout(layout, p))
    }

    /// The SBOM of an OCI image: the manifest [`crate::image::spec::from_spec`]
    /// made for it, the `labels` argument and the OCI platform. Every path is
    /// in the layers.
    pub fn for_oci(
        store: &StoreDir,
        closure: &Closure,
        packages: &[StorePath],
        m: &ImageManifest,
        labels: &BTreeMap<String, String>,
        platform: &crate::nix::names::OciPlatform,
    ) -> ClosureSbom {
        let image = SbomImage {
            kind: ImageKind::OciLayout,
            name: m.name.clone(),
            version: m.label("version").map(str::to_string),
            os: platform.os.clone(),
            arch: platform.architecture.clone(),
            labels: labels.clone(),
        };
        ClosureSbom::new(image, store, closure, packages, |_| Placement::Contents)
    }

    /// Places `path` at `placement`; false when the closure has no such path.
    pub fn set_placement(&mut self, path: &StorePath, placement: Placement) -> bool {
        let full = format!("{}/{}", self.store_dir, path.base_name());
        match self.paths.binary_search_by(|p| p.path.as_str().cmp(&full)) {
            Ok(i) => {
                self.paths[i].placement = placement;
                true
            }
            Err(_) => false,
        }
    }

    /// The file's bytes: pretty JSON, keys sorted at every level, and a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let value = sorted(serde_json::to_value(self).expect("the SBOM serialises"));
        let mut json = serde_json::to_vec_pretty(&value).expect("a JSON value serialises");
        json.push(b'\n');
        json
    }

    /// Reads the bytes of an SBOM back.
    pub fn parse(bytes: &[u8]) -> Result<ClosureSbom, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The pin of the file's bytes.
    pub fn pin(&self) -> ClosurePin {
        ClosurePin::of_bytes(&self.to_json())
    }

    /// Adds the pin to an ACI manifest's annotations, in name order (the
    /// order [`crate::image::spec::from_spec`] keeps). `from_spec` refuses a user's
    /// annotation of this name, so there is none yet. The pin is of the
    /// SBOM as it is now: place every path ([`ClosureSbom::set_placement`])
    /// first.
    pub fn pin_manifest(&self, m: &mut ImageManifest) {
        debug_assert!(m.annotation(ANNOTATION).is_none(), "from_spec refuses the {ANNOTATION} annotation");
        let name: AcIdentifier = ANNOTATION.parse().expect("the pin's name is an AC Identifier");
        let at = m.annotations.partition_point(|a| a.name.as_str() < ANNOTATION);
        m.annotations.insert(at, Annotation { name, value: self.pin().to_string() });
    }

    /// An OCI image's config labels: `labels` and the pin
    /// (`oci::config::check_spec` refuses a user label of that name).
    pub fn pinned_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut out = labels.clone();
        out.insert(ANNOTATION.to_string(), self.pin().to_string());
        out
    }
}

/// A JSON value with every object's keys in sorted order, whatever map
/// serde_json was built with.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The SHA-256 of an SBOM file's bytes, written `sha256-<64 lowercase hex>`
/// (the `<algorithm>-<hex>` form of appc image IDs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClosurePin([u8; 32]);

impl ClosurePin {
    pub fn of_bytes(bytes: &[u8]) -> ClosurePin {
        ClosurePin(Sha256::digest(bytes).into())
    }

    /// Parses `sha256-<64 lowercase hex>`; `None` for anything else.
    pub fn parse(s: &str) -> Option<ClosurePin> {
        let hex = s.strip_prefix("sha256-")?;
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ClosurePin(out))
    }
}

impl fmt::Display for ClosurePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256-")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ClosurePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The SBOM beside an image: `<base>.closure.json` for `<base>.aci`, an OCI
/// layout `<base>.oci` or its docker-archive `<base>.docker.tar` (any other
/// name: the name and `.closure.json`).
pub fn sbom_beside(image: &Path) -> PathBuf {
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let base = [".aci", ".oci", ".docker.tar"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
    image.with_file_name(format!("{base}{SBOM_SUFFIX}"))
}

/// A checked SBOM: its file, its bytes, the pin they match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSbom {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub pin: ClosurePin,
}

/// Reads the SBOM beside `image` and checks it against the pin in the
/// image's manifest `m`. `Ok(None)` when the manifest pins none.
pub fn check_beside(image: &Path, m: &ImageManifest) -> Result<Option<PinnedSbom>, SbomError> {
    check_pinned(image, m.annotation(ANNOTATION))
}

/// Reads the SBOM beside `image` and checks it against `pin`, the value of
/// the image's annotation (ACI) or config label (OCI layout)
/// [`ANNOTATION`]. `Ok(None)` when there is none.
pub fn check_pinned(image: &Path, pin: Option<&str>) -> Result<Option<PinnedSbom>, SbomError> {
    let Some(value) = pin else { return Ok(None) };
    let expected =
        ClosurePin::parse(value).ok_or_else(|| SbomError::BadPin { image: image.into(), value: value.to_string() })?;
    let path = sbom_beside(image);
    let bytes = read_sbom(&path).map_err(|message| SbomError::Missing {
        sbom: path.clone(),
        image: image.into(),
        expected,
        message,
    })?;
    let actual = ClosurePin::of_bytes(&bytes);
    if actual != expected {
        return Err(SbomError::Mismatch { sbom: path, image: image.into(), expected, actual });
    }
    Ok(Some(PinnedSbom { path, bytes, pin: actual }))
}

/// Largest SBOM read: a closure of thousands of paths has a few MiB.
pub const MAX_SBOM_SIZE: u64 = 64 << 20;

/// The SBOM file's bytes, if it is a regular file of at most
/// [`MAX_SBOM_SIZE`] bytes (a FIFO or a link to a device is refused before
/// it is opened).
fn read_sbom(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_SBOM_SIZE {
        return Err(format!("it is {} bytes, more than the {MAX_SBOM_SIZE} read", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SBOM_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SBOM_SIZE {
        return Err(format!("it grew past the {MAX_SBOM_SIZE} bytes read"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::closure::RawPathInfo;

    const A: &str = "/nix/store/0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-glibc-2.35-224";
    const B: &str = "/nix/store/1c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-bash-5.2-p15";
    const C: &str = "/nix/store/2c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-hello-world";
    const NAR: &str = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

    fn raw(path: &str, refs: &[&str]) -> RawPathInfo {
        RawPathInfo {
            path: path.into(),
            nar_hash: Some(NAR.into()),
            nar_size: Some(100),
            references: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn image() -> SbomImage {
        SbomImage {
            kind: ImageKind::Aci,
            name: "example.com/bash".parse().unwrap(),
            version: Some("5.2".into()),
            os: "linux".into(),
            arch: "amd64".into(),
            labels: [("team".to_string(), "infra".to_string())].into(),
        }
    }

    fn sbom(order: &[RawPathInfo], layout: StoreLayout) -> ClosureSbom {
        let store = StoreDir::default();
        let closure = Closure::from_raw(&store, order).unwrap();
        let packages = [store.parse_path(B).unwrap(), store.parse_path(C).unwrap()];
        ClosureSbom::new(image(), &store, &closure, &packages, |p| Placement::of_layout(layout, p))
    }

    #[test]
    fn the_document() {
        let s = sbom(&[raw(B, &[B, A]), raw(A, &[A]), raw(C, &[])], StoreLayout::Fat);
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "nix2aciClosure": 1,
                "image": {"kind": "aci", "name": "example.com/bash", "version": "5.2", "os": "linux",
                          "arch": "amd64", "labels": {"team": "infra"}},
                "storeDir": "/nix/store",
                "packages": [B, C],
                "paths": [
                    {"path": A, "name": "glibc", "version": "2.35-224", "narHash": NAR, "narSize": 100,
                     "references": [A], "placement": {"kind": "contents"}},
                    {"path": B, "name": "bash", "version": "5.2-p15", "narHash": NAR, "narSize": 100,
                     "references": [A, B], "placement": {"kind": "contents"}},
                    {"path": C, "name": "hello-world", "version": null, "narHash": NAR, "narSize": 100,
                     "references": [], "placement": {"kind": "contents"}},
                ]
            })
        );
        assert_eq!(ClosureSbom::parse(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn deterministic_bytes() {
        let one = sbom(&[raw(B, &[B, A]), raw(A, &[]), raw(C, &[])], StoreLayout::Thin).to_json();
        let two = sbom(&[raw(C, &[]), raw(A, &[]), raw(B, &[A, B])], StoreLayout::Thin).to_json();
        assert_eq!(one, two);
        assert!(one.ends_with(b"}\n"));
        // Keys are sorted at every level of the text itself.
        fn keys_sorted(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Object(m) => {
                    let keys: Vec<&String> = m.keys().collect();
                    keys.windows(2).all(|w| w[0] < w[1]) && m.values().all(keys_sorted)
                }
                serde_json::Value::Array(a) => a.iter().all(keys_sorted),
                _ => true,
            }
        }
        assert!(keys_sorted(&serde_json::from_slice(&one).unwrap()));
        let text = String::from_utf8(one.clone()).unwrap();
        let (arch, image, kind) =
            (text.find("\"arch\"").unwrap(), text.find("\"image\"").unwrap(), text.find("\"kind\""));
        assert!(image < arch && arch < kind.unwrap(), "{text}");
        assert!(!text.contains("1970") && !text.contains("created"));
        assert_eq!(
            ClosurePin::of_bytes(&one),
            sbom(&[raw(A, &[]), raw(B, &[A, B, A]), raw(C, &[])], StoreLayout::Thin).pin()
        );
    }

    #[test]
    fn placements() {
        let mut s = sbom(&[raw(B, &[A]), raw(A, &[]), raw(C, &[])], StoreLayout::Thin);
        assert_eq!(
            s.paths[0].placement,
            Placement::ThinMount { mount: "nix-0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4".parse().unwrap() }
        );
        let glibc = StorePath::from_base_name(&A["/nix/store/".len()..]).unwrap();
        let dep = Placement::DependencyAci { image: "example.com/glibc".parse().unwrap() };
        assert!(s.set_placement(&glibc, dep.clone()));
        assert_eq!(s.paths[0].placement, dep);
        let other = StorePath::from_base_name("3c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-x").unwrap();
        assert!(!s.set_placement(&other, Placement::Contents));
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(
            v["paths"][0]["placement"],
            serde_json::json!({"image": "example.com/glibc", "kind": "dependency-aci"})
        );
        assert_eq!(
            v["paths"][1]["placement"],
            serde_json::json!({"kind": "thin-mount", "mount": "nix-1c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4"})
        );
        assert_eq!(ClosureSbom::parse(&s.to_json()).unwrap(), s);
        // A placement is one of the three, with exactly its keys.
        for bad in [
            serde_json::json!({"kind": "layer"}),
            serde_json::json!({"kind": "thin-mount", "mount": "nix-x", "image": "x"}),
            serde_json::json!({"kind": "thin-mount", "mount": "Not_A_Name"}),
        ] {
            assert!(serde_json::from_value::<Placement>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn pins() {
        let p = ClosurePin::of_bytes(b"abc");
        let text = p.to_string();
        assert_eq!(text, "sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(ClosurePin::parse(&text), Some(p));
        for bad in [
            "",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256-AB",
            &text.to_uppercase(),
        ] {
            assert_eq!(ClosurePin::parse(bad), None, "{bad}");
        }
        assert!(ANNOTATION.parse::<AcIdentifier>().is_ok());
        assert_eq!(sbom_beside(Path::new("ACIs/b-1-linux-amd64.aci")), Path::new("ACIs/b-1-linux-amd64.closure.json"));
        assert_eq!(sbom_beside(Path::new("x/img")), Path::new("x/img.closure.json"));
        assert_eq!(sbom_beside(Path::new("OCI/b-1-linux-arm64.oci")), Path::new("OCI/b-1-linux-arm64.closure.json"));
        assert!(matches!(check_pinned(Path::new("x.aci"), Some("sha256:00")), Err(SbomError::BadPin { .. })));
        assert!(check_pinned(Path::new("x.aci"), None).unwrap().is_none());
    }
}
