//! The structured attributes `nix/mkACI.nix` hands to `mkaci build`.
//!
//! Nix writes every derivation attribute into `.attrs.json` when
//! `__structuredAttrs = true`. Of those, mkaci reads:
//!
//! - `outputs.out`: where to write the result (`$out` is not set with structured attrs);
//! - `system`: the Nix system the builder runs on;
//! - `targetSystem`: the Nix system of the image, which gives the `os` and
//!   `arch` labels and the OCI platform; absent when it is `system`
//!   ([`Attrs::image_system`]);
//! - `storeDir`: the store directory (optional, `/nix/store` by default);
//! - `closure`: what `exportReferencesGraph.closure` became, see [`crate::nix::closure`];
//! - `mkaci`: the store path of mkaci itself, for `postprocess.sh`;
//! - `aci`: the image description, [`AciSpec`];
//! - `format`: what to build from it, [`ImageFormat`]: an ACI (the default,
//!   what `mkACI` builds) or an OCI image layout (what `mkOCI` builds);
//! - `oci`: the OCI-only arguments, [`OciSpec`], with `format = "oci"`;
//!   `format = "layer"` (what `mkLayer` builds) reads only the packages,
//!   name, labels, compression and signing of `aci`.
//!
//! This is the one contract between the Nix side and the Rust side. Field names
//! are the `mkACI` argument names after `nix/mkACI.nix` has normalised them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::nix::closure::RawPathInfo;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attrs {
    pub outputs: Outputs,
    pub system: String,
    /// The image's Nix system, when it is not `system` (an image of
    /// packages built for another platform).
    #[serde(default)]
    pub target_system: Option<String>,
    #[serde(default)]
    pub store_dir: Option<String>,
    pub closure: Vec<RawPathInfo>,
    #[serde(default)]
    pub mkaci: Option<String>,
    pub aci: AciSpec,
    #[serde(default)]
    pub format: ImageFormat,
    #[serde(default)]
    pub oci: Option<OciSpec>,
}

/// What a build makes of the image description.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// An App Container Image (`mkACI`).
    #[default]
    Aci,
    /// An OCI image layout directory (`mkOCI`); needs `oci`.
    Oci,
    /// One dependency ACI holding the closure of `aci.packages` and no app
    /// (`mkLayer`): a declared layer other images depend on.
    Layer,
    /// The same declared layer for OCI images (`mkLayer`'s `oci`): an image
    /// layout with one layer holding the closure of `aci.packages` and no
    /// app, whose blob images that list it copy; needs `oci`.
    #[serde(rename = "oci-layer")]
    OciLayer,
    /// One result from ACI results of several platforms (`mkMultiArch`):
    /// `aci.packages` are the images' results.
    #[serde(rename = "multi-arch")]
    MultiArch,
    /// One image index layout from OCI results of several platforms
    /// (`mkMultiArch` of mkOCI images): `aci.packages` are the images'
    /// results.
    #[serde(rename = "oci-multi-arch")]
    OciMultiArch,
    /// The store paths of the closure of `aci.packages` that an image gets
    /// cached per-path layers for (`cacheLayers = true`), as `layers.json`:
    /// the per-path dependency ACIs of a layered ACI, or (with `oci`) the
    /// one-path layers of an OCI image. Read at evaluation time.
    #[serde(rename = "layer-plan")]
    LayerPlan,
    /// One cached per-path dependency ACI (`cacheLayers = true`): the single
    /// store path of `aci.packages`, named under `aci.layerPrefix`, labelled
    /// `aci.os` and `aci.arch`.
    #[serde(rename = "path-layer")]
    PathLayer,
    /// One cached per-path OCI layer (`cacheLayers = true`): an image layout
    /// of one layer holding the single store path of `aci.packages`; needs `oci`.
    #[serde(rename = "oci-path-layer")]
    OciPathLayer,
}

/// The arguments only `mkOCI` has. The rest of its arguments are mkACI's,
/// under `aci`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciSpec {
    /// The tag: `org.opencontainers.image.ref.name` in `index.json` and the
    /// tag of the docker-archive. Default (in Nix): the version, else `latest`.
    pub tag: String,
    /// Most layers the image may have, the top-level tree's included.
    pub max_layers: u32,
    /// The layout directory name `nix/mkOCI.nix` computed; must agree with mkaci's own.
    #[serde(default)]
    pub dir_name: Option<String>,
    /// Declared layers (the outputs of `mkLayer`'s `oci`, store paths): the
    /// image's bottom layers, in order, copied as they are.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Cached per-path layers (`cacheLayers = true`: the outputs of
    /// `oci-path-layer` derivations, store paths): the blobs of the image's
    /// one-path store layers, linked in place of packing them.
    #[serde(default)]
    pub cached_layers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Outputs {
    pub out: String,
}

/// What the user asked for, as typed as JSON allows. Values whose shape varies
/// (`exec` as string or list, `isolators` as attrset, list or JSON string, ...)
/// stay [`Value`]s here and are checked, with the field named, by
/// [`crate::image::spec::from_spec`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AciSpec {
    /// Image name given explicitly by the user. Refused if not a valid AC Identifier.
    #[serde(default)]
    pub name: Option<String>,
    /// Name derived from the first package's Nix name; mapped to a valid AC Identifier.
    #[serde(default)]
    pub default_name: Option<String>,
    /// The `version` label.
    #[serde(default)]
    pub version: Option<String>,
    /// The image file name `nix/mkACI.nix` computed; must agree with mkaci's own.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Override of the `os` label; otherwise from `system`.
    #[serde(default)]
    pub os: Option<String>,
    /// Override of the `arch` label; otherwise from `system`.
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Thin image: no store contents, one read-only mount point per store path.
    #[serde(default)]
    pub thin: bool,
    /// Layered image: each store path of the closure (less the declared
    /// `layers`) becomes its own dependency ACI.
    #[serde(default)]
    pub layered: bool,
    /// The name prefix of the per-path dependency ACIs (an AC Identifier);
    /// default: the image name's first component and the store directory,
    /// see [`crate::formats::aci::deps::default_prefix`].
    #[serde(default)]
    pub layer_prefix: Option<String>,
    /// Declared layers (`mkLayer` outputs, absolute store paths): the image
    /// depends on each and leaves their closures out.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Cached per-path dependency ACIs (`cacheLayers = true`: the outputs
    /// of `path-layer` derivations, store paths), linked in place of
    /// writing the per-path dependencies of `layered = true`.
    #[serde(default)]
    pub cached_layers: Vec<String>,
    /// The packages whose top-level trees are merged at `/`. Absolute store paths.
    pub packages: Vec<String>,
    /// String (split on whitespace) or list of strings.
    #[serde(default)]
    pub exec: Option<Value>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, rename = "supplementaryGIDs")]
    pub supplementary_gids: Vec<Value>,
    #[serde(default)]
    pub working_directory: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Read-write mount points, name -> absolute path in the image, or the
    /// path with the target directory's owner and mode.
    #[serde(default)]
    pub mounts: BTreeMap<String, MountSpec>,
    /// Read-only mount points, as `mounts`.
    #[serde(default)]
    pub mounts_ro: BTreeMap<String, MountSpec>,
    /// Users written into `/etc/passwd`, by name (root and nobody are added).
    #[serde(default)]
    pub users: BTreeMap<String, UserSpec>,
    /// Groups written into `/etc/group`, by name (root and nobody are added).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
    /// Ownership and modes of paths outside the store, applied in order.
    #[serde(default)]
    pub perms: Vec<PermSpec>,
    /// Files copied into the image as real files: absolute image path -> store
    /// path, or the store path with an owner and mode.
    #[serde(default)]
    pub files: BTreeMap<String, FileSpec>,
    /// List of `{name, protocol, port, count?, socketActivated?}`, or an attrset name -> rest.
    #[serde(default)]
    pub ports: Option<Value>,
    /// Attrset name -> value, list of `{name, value}`, or a JSON string of either.
    #[serde(default)]
    pub isolators: Option<Value>,
    /// Attrset `{ "pre-start" = [..]; }` or list of `{name, exec}`.
    #[serde(default)]
    pub event_handlers: Option<Value>,
    /// Write `/etc/hosts` with localhost lines.
    #[serde(default)]
    pub dnsquirks: bool,
    /// `gzip` (default), `xz` or `none`.
    #[serde(default)]
    pub compression: Option<String>,
    #[serde(default)]
    pub compression_level: Option<u32>,
    /// Whether `postprocess` signs the image.
    #[serde(default = "yes")]
    pub sign: bool,
}

/// A mount point: its path, or its path and the target directory's owner and mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MountSpec {
    Path(String),
    Owned(OwnedPath),
}

impl MountSpec {
    pub fn path(&self) -> &str {
        match self {
            MountSpec::Path(p) => p,
            MountSpec::Owned(o) => &o.path,
        }
    }
}

/// `{ path; uid ?; gid ?; mode ?; }` of a mount point.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnedPath {
    pub path: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// Octal digits, e.g. `"0750"`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// One `users.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub uid: u32,
    /// Default: the gid of `groups.<name>`.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Created and owned by the user when given; default `/var/empty`, not created.
    #[serde(default)]
    pub home: Option<String>,
    /// Default `/bin/sh`.
    #[serde(default)]
    pub shell: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One `groups.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub gid: u32,
    #[serde(default)]
    pub members: Vec<String>,
}

/// One `perms` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermSpec {
    pub path: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default)]
    pub recursive: bool,
}

/// One `files` value: a store path, or `{ source; mode ?; uid ?; gid ?; }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FileSpec {
    Source(String),
    Owned(OwnedSource),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnedSource {
    pub source: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum AttrsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: field `{field}`: {message}")]
    Field { path: PathBuf, field: String, message: String },
    #[error("no structured attrs found: {tried}. mkaci build must be the builder of a derivation with __structuredAttrs = true, or be given --attrs FILE")]
    NotFound { tried: String },
}

impl Attrs {
    /// The Nix system of the image: `targetSystem`, else `system`.
    pub fn image_system(&self) -> &str {
        self.target_system.as_deref().unwrap_or(&self.system)
    }

    pub fn from_file(path: &Path) -> Result<Self, AttrsError> {
        let bytes = std::fs::read(path).map_err(|source| AttrsError::Read { path: path.to_path_buf(), source })?;
        Self::from_slice(&bytes).map_err(|(field, message)| AttrsError::Field {
            path: path.to_path_buf(),
            field,
            message,
        })
    }

    /// Parses attrs JSON; on error, returns the dotted path of the bad field and the message.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, (String, String)> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let message = e.into_inner().to_string();
            (field, message)
        })
    }

    /// Finds `.attrs.json` where Nix leaves it: `NIX_ATTRS_JSON_FILE` if that
    /// file exists (Nix 2.35 sets it to `/build/.attrs.json`; Nix 2.8 to the
    /// host's build directory, `/tmp/nix-build-<name>.drv-0/.attrs.json`, which
    /// does not exist inside the sandbox), else `$NIX_BUILD_TOP/.attrs.json`
    /// (`/build/.attrs.json` under both). See `docs/nix-versions.md`.
    pub fn locate() -> Result<PathBuf, AttrsError> {
        let mut tried = Vec::new();
        if let Some(p) = std::env::var_os("NIX_ATTRS_JSON_FILE") {
            let p = PathBuf::from(p);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(format!("NIX_ATTRS_JSON_FILE={}", p.display()));
        }
        if let Some(top) = std::env::var_os("NIX_BUILD_TOP") {
            let p = Path::new(&top).join(".attrs.json");
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p.display().to_string());
        }
        if tried.is_empty() {
            tried.push("neither NIX_ATTRS_JSON_FILE nor NIX_BUILD_TOP is set".into());
        }
        Err(AttrsError::NotFound { tried: tried.join(", ") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_attrs() {
        let a = Attrs::from_slice(
            br#"{"outputs":{"out":"/nix/store/x"},"system":"x86_64-linux","closure":[],
                "aci":{"packages":["/nix/store/p"]}}"#,
        )
        .unwrap();
        assert!(a.aci.sign);
        assert!(!a.aci.thin);
        assert_eq!(a.format, ImageFormat::Aci);
        assert_eq!(a.oci, None);
    }

    #[test]
    fn oci_attrs() {
        let a = Attrs::from_slice(
            br#"{"outputs":{"out":"/nix/store/x"},"system":"x86_64-linux","closure":[],"format":"oci",
                "oci":{"tag":"1.0","maxLayers":100,"dirName":"p-1.0-linux-amd64.oci"},
                "aci":{"packages":["/nix/store/p"]}}"#,
        )
        .unwrap();
        assert_eq!(a.format, ImageFormat::Oci);
        assert_eq!(
            a.oci,
            Some(OciSpec {
                tag: "1.0".into(),
                max_layers: 100,
                dir_name: Some("p-1.0-linux-amd64.oci".into()),
                layers: Vec::new(),
                cached_layers: Vec::new()
            })
        );
        let (field, msg) = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],"format":"oci",
                "oci":{"tag":"1","maxLayers":2,"layerz":3},"aci":{"packages":[]}}"#,
        )
        .unwrap_err();
        assert_eq!(field, "oci.layerz");
        assert!(msg.contains("layerz"), "{msg}");
        let (field, msg) = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],"format":"oci",
                "oci":{"tag":"1","maxLayers":2,"layers":3},"aci":{"packages":[]}}"#,
        )
        .unwrap_err();
        assert_eq!(field, "oci.layers");
        assert!(msg.contains("expected a sequence"), "{msg}");
        let a = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],"format":"oci-layer",
                "oci":{"tag":"1","maxLayers":1},"aci":{"packages":[]}}"#,
        )
        .unwrap();
        assert_eq!(a.format, ImageFormat::OciLayer);
        let (field, _) = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],"format":"docker","aci":{"packages":[]}}"#,
        )
        .unwrap_err();
        assert_eq!(field, "format");
    }

    #[test]
    fn bad_field_is_named() {
        let (field, msg) = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],
                "aci":{"packages":[],"thin":"yes"}}"#,
        )
        .unwrap_err();
        assert_eq!(field, "aci.thin");
        assert!(msg.contains("expected a boolean"), "{msg}");
        let (field, msg) = Attrs::from_slice(
            br#"{"outputs":{"out":"/x"},"system":"x86_64-linux","closure":[],
                "aci":{"packages":[],"thinn":true}}"#,
        )
        .unwrap_err();
        assert_eq!(field, "aci.thinn");
        assert!(msg.contains("thinn"), "{msg}");
    }
}
