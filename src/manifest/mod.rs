//! The appc 0.8.11 ImageManifest, typed, validated, with deterministic bytes.
//!
//! The types mirror the schema of appc `spec/aci.md` ("Image Manifest Schema")
//! one to one, with keys in their exact canonical case: Go's JSON reader ignores
//! key case and unknown keys, so a miscased key is silently dropped by actool and
//! rkt. We refuse unknown keys instead. The rules are those of `shared/appc.md`
//! §3, stricter than actool; each is listed on the field it guards.
//!
//! - [`ident`]: the validated string newtypes ([`AcIdentifier`], [`AcName`], ...);
//! - [`isolator`]: the 14 known isolators with typed values;
//! - [`spec`]: [`from_spec`], the conversion from the user's `mkACI` arguments.
//!
//! Every value is a newtype that is valid by construction; the rules that span
//! several fields (uniqueness, os/arch pairs, well-known annotations) are checked
//! by [`ImageManifest::validate`], which [`ImageManifest::from_json_slice`] and
//! [`from_spec`] both run.

pub mod ident;
pub mod isolator;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use ident::{
    AbsPath, AbsPathError, AcIdentifier, AcIdentifierError, AcName, AcNameError, AcVersion, AcVersionError, EnvName,
    EnvNameError, HttpUrl, HttpUrlError, Timestamp, TimestampError, AC_VERSION,
};
pub use isolator::{Isolator, IsolatorError, Quantity, QuantityError, KNOWN_ISOLATORS};
pub use spec::{from_spec, Resolved, SpecContext, SpecError, ThinMount};

use crate::image_id::ImageId;

/// The os/arch label pairs appc 0.8.11 accepts (`types.ValidOSArch` in
/// `schema/types/labels.go`). rkt refuses to run an image without both labels.
pub const VALID_OS_ARCH: &[(&str, &[&str])] = &[
    ("linux", &["amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64", "ppc64le", "s390x"]),
    ("freebsd", &["amd64", "i386", "arm"]),
    ("darwin", &["x86_64", "i386"]),
];

/// Whether `os`/`arch` is an allowed pair.
pub fn is_valid_os_arch(os: &str, arch: &str) -> bool {
    VALID_OS_ARCH.iter().any(|(o, archs)| *o == os && archs.contains(&arch))
}

/// The allowed pairs as `linux/amd64, linux/i386, ...`, for messages.
pub fn valid_os_arch_list() -> String {
    let mut out = Vec::new();
    for (os, archs) in VALID_OS_ARCH {
        for arch in *archs {
            out.push(format!("{os}/{arch}"));
        }
    }
    out.join(", ")
}

/// `acKind`: always `"ImageManifest"` for an image manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageManifestKind;

impl Serialize for ImageManifestKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("ImageManifest")
    }
}

impl<'de> Deserialize<'de> for ImageManifestKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "ImageManifest" {
            Ok(ImageManifestKind)
        } else {
            Err(serde::de::Error::custom(format!("acKind is {s:?}; an image manifest has \"ImageManifest\"")))
        }
    }
}

/// An appc ImageManifest. Build it with [`from_spec`] or
/// [`ImageManifest::from_json_slice`], which both check every rule; if you change
/// fields, call [`ImageManifest::validate`] again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageManifest {
    /// `acKind`: "ImageManifest".
    #[serde(rename = "acKind")]
    pub ac_kind: ImageManifestKind,
    /// `acVersion`: we write "0.8.11".
    #[serde(rename = "acVersion")]
    pub ac_version: AcVersion,
    /// `name`: an AC Identifier, full pattern enforced.
    pub name: AcIdentifier,
    /// `labels`: unique names, none called `name`; `os` and `arch` always present
    /// and an allowed pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// `app`: how to run the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    /// `dependencies`: images rendered below this one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// `pathWhitelist`: exact absolute paths, unique. Empty means everything.
    #[serde(rename = "pathWhitelist", default, skip_serializing_if = "Vec::is_empty")]
    pub path_whitelist: Vec<AbsPath>,
    /// `annotations`: unique names; `created` is RFC 3339, `homepage` and
    /// `documentation` are http(s) URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// A `{name, value}` label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub name: AcIdentifier,
    pub value: String,
}

/// A `{name, value}` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    pub name: AcIdentifier,
    pub value: String,
}

/// Why an `exec` list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("exec is empty; give the program to run as an absolute path, e.g. [\"/bin/sh\"]")]
    Empty,
    #[error("exec[0] {value:?} is not a usable absolute path ({source}); rkt resolves a relative exec before volumes are mounted, so give the full path, e.g. \"/bin/{hint}\"")]
    NotAbsolute { value: String, hint: String, source: AbsPathError },
    #[error("exec[{index}] {value:?} contains a NUL byte, which cannot be passed to a program")]
    Nul { index: usize, value: String },
}

/// `exec`: a program as an absolute, normalised path, then its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Exec(Vec<String>);

impl Exec {
    pub fn new(args: Vec<String>) -> Result<Exec, ExecError> {
        let first = args.first().ok_or(ExecError::Empty)?;
        if let Err(source) = first.parse::<AbsPath>() {
            let hint = first.rsplit('/').find(|s| !s.is_empty()).unwrap_or("program").to_string();
            return Err(ExecError::NotAbsolute { value: first.clone(), hint, source });
        }
        if let Some((index, value)) = args.iter().enumerate().find(|(_, a)| a.contains('\0')) {
            return Err(ExecError::Nul { index, value: value.clone() });
        }
        Ok(Exec(args))
    }

    pub fn args(&self) -> &[String] {
        &self.0
    }

    /// `exec[0]`, the program.
    pub fn program(&self) -> &str {
        &self.0[0]
    }
}

impl<'de> Deserialize<'de> for Exec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Exec::new(Vec::<String>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `app`: the application the image runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// `exec`: required by us (optional in appc); `exec[0]` absolute.
    pub exec: Exec,
    /// `user`: required, non-empty.
    pub user: String,
    /// `group`: required, non-empty.
    pub group: String,
    /// `supplementaryGIDs`: non-negative integers.
    #[serde(rename = "supplementaryGIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub supplementary_gids: Vec<u32>,
    /// `eventHandlers`: `pre-start` and `post-stop`, each at most once.
    #[serde(rename = "eventHandlers", default, skip_serializing_if = "Vec::is_empty")]
    pub event_handlers: Vec<EventHandler>,
    /// `workingDirectory`: absolute.
    #[serde(rename = "workingDirectory", default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<AbsPath>,
    /// `environment`: unique names matching `^[A-Za-z_][A-Za-z_0-9.-]*$`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvVar>,
    /// `isolators`: known names, valid values, each name once, no conflicting pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolators: Vec<Isolator>,
    /// `mountPoints`: unique AC Names, unique absolute paths.
    #[serde(rename = "mountPoints", default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// `ports`: unique AC Names, tcp/udp, 1..=65535, count >= 1, port + count <= 65536.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// `userAnnotations`: free-form, must not affect the runtime.
    #[serde(rename = "userAnnotations", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    /// `userLabels`: free-form, must not affect the runtime.
    #[serde(rename = "userLabels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

/// `eventHandlers[].name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventName {
    #[serde(rename = "pre-start")]
    PreStart,
    #[serde(rename = "post-stop")]
    PostStop,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::PreStart => "pre-start",
            EventName::PostStop => "post-stop",
        }
    }
}

/// An event handler: `{exec, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHandler {
    pub exec: Exec,
    pub name: EventName,
}

/// An environment variable `{name, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: EnvName,
    pub value: String,
}

/// A mount point `{name, path, readOnly}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountPoint {
    pub name: AcName,
    pub path: AbsPath,
    #[serde(rename = "readOnly", default)]
    pub read_only: bool,
}

/// A port `{name, protocol, port, count, socketActivated}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: AcName,
    pub protocol: String,
    pub port: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(rename = "socketActivated", default)]
    pub socket_activated: bool,
}

fn one() -> u32 {
    1
}

/// The port protocols rkt can forward.
pub const PORT_PROTOCOLS: [&str; 2] = ["tcp", "udp"];

/// A dependency `{imageName, imageID?, labels?, size?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(rename = "imageName")]
    pub image_name: AcIdentifier,
    #[serde(rename = "imageID", default, skip_serializing_if = "Option::is_none", with = "opt_image_id")]
    pub image_id: Option<ImageId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

mod opt_image_id {
    use super::ImageId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<ImageId>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ImageId>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| s.parse().map_err(serde::de::Error::custom)).transpose()
    }
}

/// A rule of appc.md §3 that a manifest breaks. `at` is the JSON path of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of an appc ImageManifest at {path}: {message}")]
    Json { path: String, message: String },
    #[error("{at}: a label may not be called \"name\" (it would be confused with the image name); remove it")]
    LabelNamedName { at: String },
    #[error("{at}: label {name:?} appears twice; label names must be unique")]
    DuplicateLabel { at: String, name: String },
    #[error("labels: the {missing:?} label is missing; rkt refuses images without both os and arch (e.g. os=linux, arch=amd64)")]
    MissingOsArch { missing: &'static str },
    #[error("labels: os={os:?} arch={arch:?} is not an allowed pair; allowed are {}", valid_os_arch_list())]
    InvalidOsArch { os: String, arch: String },
    #[error("app.{field}: {field} is empty; give a user/group name or number, e.g. \"0\"")]
    EmptyUserGroup { field: &'static str },
    #[error("app.environment: {name:?} appears twice; environment names must be unique")]
    DuplicateEnv { name: String },
    #[error("app.environment: the value of {name:?} contains a NUL byte, which cannot be passed to a program")]
    EnvValueNul { name: String },
    #[error("app.eventHandlers: {name:?} appears twice; each event handler may appear at most once")]
    DuplicateEventHandler { name: &'static str },
    #[error("app.mountPoints: name {name:?} appears twice; mount point names must be unique")]
    DuplicateMountName { name: String },
    #[error("app.mountPoints: path {path:?} appears twice (names {first:?} and {second:?}); mount point paths must be unique")]
    DuplicateMountPath { path: String, first: String, second: String },
    #[error("app.mountPoints: {name:?} is mounted at \"/\"; mount it at a directory below the root")]
    MountAtRoot { name: String },
    #[error("app.ports: name {name:?} appears twice; port names must be unique")]
    DuplicatePortName { name: String },
    #[error("app.ports: {name:?} has protocol {protocol:?}; use one of {}", PORT_PROTOCOLS.join(", "))]
    BadProtocol { name: String, protocol: String },
    #[error("app.ports: {name:?} has port 0; ports are 1 to 65535")]
    PortZero { name: String },
    #[error("app.ports: {name:?} has count 0; count is at least 1")]
    PortCountZero { name: String },
    #[error("app.ports: {name:?} covers ports {port} to {} (count {count}), past 65535; lower port or count", u64::from(*.port) + u64::from(*.count) - 1)]
    PortRangeOverflow { name: String, port: u16, count: u32 },
    #[error("app.isolators: {name:?} appears twice; give each isolator once")]
    DuplicateIsolator { name: &'static str },
    #[error("app.isolators: {first:?} and {second:?} cannot be used together; keep one")]
    ConflictingIsolators { first: &'static str, second: &'static str },
    #[error("annotations: {name:?} appears twice; annotation names must be unique")]
    DuplicateAnnotation { name: String },
    #[error("annotations.created: {source}")]
    BadCreated { source: TimestampError },
    #[error("annotations.{name}: {source}")]
    BadUrl { name: String, source: HttpUrlError },
    #[error("pathWhitelist: {path:?} appears twice; paths must be unique")]
    DuplicateWhitelistPath { path: String },
}

/// Isolator pairs that exclude each other (appc `ace.md`: "cannot be used in
/// conjunction with").
const CONFLICTING_ISOLATORS: [(&str, &str); 2] = [
    ("os/linux/seccomp-retain-set", "os/linux/seccomp-remove-set"),
    ("os/linux/capabilities-retain-set", "os/linux/capabilities-remove-set"),
];

fn check_labels(at: &str, labels: &[Label]) -> Result<(), ManifestError> {
    let mut seen = BTreeSet::new();
    for label in labels {
        if label.name.as_str() == "name" {
            return Err(ManifestError::LabelNamedName { at: at.to_string() });
        }
        if !seen.insert(label.name.as_str()) {
            return Err(ManifestError::DuplicateLabel { at: at.to_string(), name: label.name.to_string() });
        }
    }
    Ok(())
}

impl App {
    /// The rules of `app` that span several fields.
    pub fn validate(&self) -> Result<(), ManifestError> {
        for (field, v) in [("user", &self.user), ("group", &self.group)] {
            if v.is_empty() {
                return Err(ManifestError::EmptyUserGroup { field });
            }
        }
        let mut names = BTreeSet::new();
        for env in &self.environment {
            if !names.insert(env.name.as_str()) {
                return Err(ManifestError::DuplicateEnv { name: env.name.to_string() });
            }
            if env.value.contains('\0') {
                return Err(ManifestError::EnvValueNul { name: env.name.to_string() });
            }
        }
        let mut events = BTreeSet::new();
        for h in &self.event_handlers {
            if !events.insert(h.name) {
                return Err(ManifestError::DuplicateEventHandler { name: h.name.as_str() });
            }
        }
        let mut mount_names = BTreeSet::new();
        let mut mount_paths: BTreeMap<&str, &str> = BTreeMap::new();
        for m in &self.mount_points {
            if !mount_names.insert(m.name.as_str()) {
                return Err(ManifestError::DuplicateMountName { name: m.name.to_string() });
            }
            if m.path.as_str() == "/" {
                return Err(ManifestError::MountAtRoot { name: m.name.to_string() });
            }
            if let Some(first) = mount_paths.insert(m.path.as_str(), m.name.as_str()) {
                return Err(ManifestError::DuplicateMountPath {
                    path: m.path.to_string(),
                    first: first.to_string(),
                    second: m.name.to_string(),
                });
            }
        }
        let mut port_names = BTreeSet::new();
        for p in &self.ports {
            let name = || p.name.to_string();
            if !port_names.insert(p.name.as_str()) {
                return Err(ManifestError::DuplicatePortName { name: name() });
            }
            if !PORT_PROTOCOLS.contains(&p.protocol.as_str()) {
                return Err(ManifestError::BadProtocol { name: name(), protocol: p.protocol.clone() });
            }
            if p.port == 0 {
                return Err(ManifestError::PortZero { name: name() });
            }
            if p.count == 0 {
                return Err(ManifestError::PortCountZero { name: name() });
            }
            if u64::from(p.port) + u64::from(p.count) > 65536 {
                return Err(ManifestError::PortRangeOverflow { name: name(), port: p.port, count: p.count });
            }
        }
        let mut iso = BTreeSet::new();
        for i in &self.isolators {
            if !iso.insert(i.name()) {
                return Err(ManifestError::DuplicateIsolator { name: i.name() });
            }
        }
        for (first, second) in CONFLICTING_ISOLATORS {
            if iso.contains(first) && iso.contains(second) {
                return Err(ManifestError::ConflictingIsolators { first, second });
            }
        }
        Ok(())
    }
}

impl ImageManifest {
    /// Checks every rule that spans fields (appc.md §3); single values are valid
    /// by their types already.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_labels("labels", &self.labels)?;
        let label = |n: &str| self.labels.iter().find(|l| l.name.as_str() == n).map(|l| l.value.as_str());
        let os = label("os").ok_or(ManifestError::MissingOsArch { missing: "os" })?;
        let arch = label("arch").ok_or(ManifestError::MissingOsArch { missing: "arch" })?;
        if !is_valid_os_arch(os, arch) {
            return Err(ManifestError::InvalidOsArch { os: os.to_string(), arch: arch.to_string() });
        }
        if let Some(app) = &self.app {
            app.validate()?;
        }
        for (i, dep) in self.dependencies.iter().enumerate() {
            check_labels(&format!("dependencies[{i}].labels"), &dep.labels)?;
        }
        let mut paths = BTreeSet::new();
        for p in &self.path_whitelist {
            if !paths.insert(p.as_str()) {
                return Err(ManifestError::DuplicateWhitelistPath { path: p.to_string() });
            }
        }
        let mut names = BTreeSet::new();
        for a in &self.annotations {
            if !names.insert(a.name.as_str()) {
                return Err(ManifestError::DuplicateAnnotation { name: a.name.to_string() });
            }
            check_annotation(a.name.as_str(), &a.value)?;
        }
        Ok(())
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|l| l.name.as_str() == name).map(|l| l.value.as_str())
    }

    /// The value of annotation `name`, if present.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.annotations.iter().find(|a| a.name.as_str() == name).map(|a| a.value.as_str())
    }

    /// The compact bytes stored as `manifest` inside the image. Keys come in the
    /// schema's order, lists in the order built, so equal manifests give equal bytes.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Serialising these types cannot fail: every map has string keys.
        serde_json::to_vec(self).expect("ImageManifest serialises")
    }

    /// The readable copy written beside the image: two-space indent, trailing newline.
    pub fn to_pretty_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("ImageManifest serialises");
        out.push(b'\n');
        out
    }

    /// Parses a manifest and checks every rule, e.g. for `mkaci verify`.
    pub fn from_json_slice(bytes: &[u8]) -> Result<ImageManifest, ManifestError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let m: ImageManifest = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            ManifestError::Json { path, message: e.into_inner().to_string() }
        })?;
        // Anything after the manifest object (a second object, garbage) is refused.
        de.end().map_err(|e| ManifestError::Json { path: ".".to_string(), message: e.to_string() })?;
        m.validate()?;
        Ok(m)
    }
}

/// Checks the well-known annotations' values.
fn check_annotation(name: &str, value: &str) -> Result<(), ManifestError> {
    match name {
        "created" => value.parse::<Timestamp>().map(drop).map_err(|source| ManifestError::BadCreated { source }),
        "homepage" | "documentation" => value
            .parse::<HttpUrl>()
            .map(drop)
            .map_err(|source| ManifestError::BadUrl { name: name.to_string(), source }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
