//! The appc 0.8.11 ImageManifest, typed, validated, with deterministic bytes.
//!
//! The types mirror the appc image manifest schema
//! (<https://github.com/appc/spec/blob/master/spec/aci.md#image-manifest-schema>)
//! one to one, with keys in their exact canonical case. Go's JSON reader (actool,
//! rkt) matches keys without regard to case and drops unknown keys, so a
//! misspelt key vanishes silently there; we write canonical keys and refuse
//! unknown ones. The rules are stricter than actool's
//! (`docs/appc.md` lists them); each is named on the field it guards.
//!
//! - [`ident`]: the validated string newtypes ([`AcIdentifier`], [`AcName`], ...);
//! - [`isolator`]: the 14 known isolators with typed values;
//! - [`location`]: [`Location`], the JSON path every rule error points at.
//!
//! The conversion from the user's `mkACI` arguments is [`crate::image::spec`].
//!
//! Every value is a newtype that is valid by construction; the rules that span
//! several fields (uniqueness, os/arch pairs, port ranges, well-known
//! annotations) are checked in one place, [`ImageManifest::validate`], which
//! [`ImageManifest::from_json_slice`] and [`crate::image::spec::from_spec`] both run.
//! Each [`ManifestError`] says where ([`Location`]); `from_spec` maps that back
//! to the `mkACI` argument.

pub mod ident;
pub mod isolator;
pub mod location;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use ident::{
    AbsPath, AbsPathError, AcIdentifier, AcIdentifierError, AcName, AcNameError, AcVersion, AcVersionError, EnvName,
    EnvNameError, HttpUrl, HttpUrlError, Timestamp, TimestampError, AC_VERSION,
};
pub use isolator::{Isolator, IsolatorError, Quantity, QuantityError, KNOWN_ISOLATORS};
pub use location::{Location, Step};

use crate::image::image_id::ImageId;

pub use crate::nix::names::{is_valid_os_arch, valid_os_arch_list};

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

/// An appc ImageManifest. Build it with [`crate::image::spec::from_spec`] or
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
    #[error("exec[0]: {reason}; rkt resolves a relative exec before volumes are mounted, so give the full path, e.g. \"/bin/{hint}\"")]
    NotAbsolute { value: String, hint: String, reason: AbsPathError },
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
        if let Err(reason) = first.parse::<AbsPath>() {
            let hint = first.rsplit('/').find(|s| !s.is_empty()).unwrap_or("program").to_string();
            return Err(ExecError::NotAbsolute { value: first.clone(), hint, reason });
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

    pub(super) fn serialize<S: Serializer>(id: &Option<ImageId>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ImageId>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| s.parse().map_err(serde::de::Error::custom)).transpose()
    }
}

/// A rule of the appc image manifest that a manifest breaks. `at` is the JSON
/// path of the offending value, `first` (for duplicates) that of the value it
/// repeats. The rules are listed in `docs/appc.md`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of an appc ImageManifest at {at}: {message}")]
    Json { at: Location, message: String },
    #[error("{at}: a label may not be called \"name\" (it would be confused with the image name); remove it")]
    LabelNamedName { at: Location },
    #[error("{at}: label {name:?} appears twice (first at {first}); label names must be unique")]
    DuplicateLabel { at: Location, first: Location, name: String },
    #[error("{at}: the {missing:?} label is missing; rkt refuses images without both os and arch (e.g. os=linux, arch=amd64)")]
    MissingOsArch { at: Location, missing: &'static str },
    #[error(
        "{at}: the {label} label {value:?} cannot go into a file name ({problem}); image files are named \
         <name>-<version>-<os>-<arch>.aci, so give a {label} without '/' or control characters"
    )]
    LabelNotInFileName { at: Location, label: String, value: String, problem: &'static str },
    #[error("{at}: os={os:?} arch={arch:?} is not an allowed pair; allowed are {}", valid_os_arch_list())]
    InvalidOsArch { at: Location, os: String, arch: String },
    #[error("{at}: the value is empty; give a user or group name or number, e.g. \"0\"")]
    EmptyUserGroup { at: Location },
    #[error("{at}: {name:?} appears twice (first at {first}); environment names must be unique")]
    DuplicateEnv { at: Location, first: Location, name: String },
    #[error("{at}: the value of {name:?} contains a NUL byte, which cannot be passed to a program")]
    EnvValueNul { at: Location, name: String },
    #[error("{at}: {name:?} appears twice (first at {first}); each event handler may appear at most once")]
    DuplicateEventHandler { at: Location, first: Location, name: &'static str },
    #[error("{at}: name {name:?} appears twice (first at {first}); mount point names must be unique")]
    DuplicateMountName { at: Location, first: Location, name: String },
    #[error("{at}: path {path:?} appears twice (first at {first}); mount point paths must be unique")]
    DuplicateMountPath { at: Location, first: Location, path: String },
    #[error("{at}: {name:?} is mounted at \"/\"; mount it at a directory below the root")]
    MountAtRoot { at: Location, name: String },
    #[error("{at}: name {name:?} appears twice (first at {first}); port names must be unique")]
    DuplicatePortName { at: Location, first: Location, name: String },
    #[error("{at}: protocol {protocol:?} is not supported; use one of {}", PORT_PROTOCOLS.join(", "))]
    BadProtocol { at: Location, protocol: String },
    #[error("{at}: port 0 is not a port; ports are 1 to 65535")]
    PortZero { at: Location },
    #[error("{at}: count 0 covers no port; count is at least 1")]
    PortCountZero { at: Location },
    #[error("{at}: covers ports {port} to {} (count {count}), past 65535; lower port or count", u64::from(*.port) + u64::from(*.count) - 1)]
    PortRangeOverflow { at: Location, port: u16, count: u32 },
    #[error("{at}: {name:?} appears twice (first at {first}); give each isolator once")]
    DuplicateIsolator { at: Location, first: Location, name: &'static str },
    #[error("{at}: {second:?} cannot be used together with {first:?} (at {first_at}); keep one")]
    ConflictingIsolators { at: Location, first_at: Location, first: &'static str, second: &'static str },
    #[error("{at}: annotation {name:?} appears twice (first at {first}); annotation names must be unique")]
    DuplicateAnnotation { at: Location, first: Location, name: String },
    #[error("{at}: the created annotation: {reason}")]
    BadCreated { at: Location, reason: TimestampError },
    #[error("{at}: the {name} annotation: {reason}")]
    BadUrl { at: Location, name: String, reason: HttpUrlError },
    #[error("{at}: {path:?} appears twice (first at {first}); paths must be unique")]
    DuplicateWhitelistPath { at: Location, first: Location, path: String },
}

impl ManifestError {
    /// Where the offending value sits.
    pub fn at(&self) -> &Location {
        use ManifestError::*;
        match self {
            Json { at, .. }
            | LabelNamedName { at }
            | DuplicateLabel { at, .. }
            | MissingOsArch { at, .. }
            | InvalidOsArch { at, .. }
            | LabelNotInFileName { at, .. }
            | EmptyUserGroup { at }
            | DuplicateEnv { at, .. }
            | EnvValueNul { at, .. }
            | DuplicateEventHandler { at, .. }
            | DuplicateMountName { at, .. }
            | DuplicateMountPath { at, .. }
            | MountAtRoot { at, .. }
            | DuplicatePortName { at, .. }
            | BadProtocol { at, .. }
            | PortZero { at }
            | PortCountZero { at }
            | PortRangeOverflow { at, .. }
            | DuplicateIsolator { at, .. }
            | ConflictingIsolators { at, .. }
            | DuplicateAnnotation { at, .. }
            | BadCreated { at, .. }
            | BadUrl { at, .. }
            | DuplicateWhitelistPath { at, .. } => at,
        }
    }
}

/// Isolator pairs that exclude each other (appc: "cannot be used in conjunction
/// with", <https://github.com/appc/spec/blob/master/spec/ace.md#isolators>).
pub const CONFLICTING_ISOLATORS: [(&str, &str); 2] = [
    ("os/linux/seccomp-retain-set", "os/linux/seccomp-remove-set"),
    ("os/linux/capabilities-retain-set", "os/linux/capabilities-remove-set"),
];

/// Finds the first item whose key was seen before: `(its index, the earlier index)`.
fn first_duplicate<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Option<(usize, usize)> {
    let mut seen = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(first) = seen.insert(key(item), i) {
            return Some((i, first));
        }
    }
    None
}

fn check_labels(at: &Location, labels: &[Label]) -> Result<(), ManifestError> {
    if let Some(i) = labels.iter().position(|l| l.name.as_str() == "name") {
        return Err(ManifestError::LabelNamedName { at: at.index(i).key("name") });
    }
    if let Some((i, first)) = first_duplicate(labels, |l| l.name.as_str()) {
        return Err(ManifestError::DuplicateLabel {
            at: at.index(i).key("name"),
            first: at.index(first).key("name"),
            name: labels[i].name.to_string(),
        });
    }
    // The labels every file name of the image (or of a dependency) is made of.
    for (i, l) in labels.iter().enumerate() {
        let label = l.name.as_str();
        if !matches!(label, "version" | "os" | "arch") {
            continue;
        }
        if let Some(problem) = crate::nix::names::name_part_problem(&l.value) {
            return Err(ManifestError::LabelNotInFileName {
                at: at.index(i).key("value"),
                label: label.to_string(),
                value: l.value.clone(),
                problem,
            });
        }
    }
    Ok(())
}

impl App {
    /// The rules of `app` that span several fields; `at` is where `app` sits.
    pub fn validate(&self, at: &Location) -> Result<(), ManifestError> {
        use ManifestError::*;
        for (field, v) in [("user", &self.user), ("group", &self.group)] {
            if v.is_empty() {
                return Err(EmptyUserGroup { at: at.key(field) });
            }
        }
        let env = at.key("environment");
        if let Some((i, first)) = first_duplicate(&self.environment, |e| e.name.as_str()) {
            let name = self.environment[i].name.to_string();
            return Err(DuplicateEnv { at: env.index(i).key("name"), first: env.index(first).key("name"), name });
        }
        if let Some(i) = self.environment.iter().position(|e| e.value.contains('\0')) {
            return Err(EnvValueNul { at: env.index(i).key("value"), name: self.environment[i].name.to_string() });
        }
        let handlers = at.key("eventHandlers");
        if let Some((i, first)) = first_duplicate(&self.event_handlers, |h| h.name) {
            return Err(DuplicateEventHandler {
                at: handlers.index(i).key("name"),
                first: handlers.index(first).key("name"),
                name: self.event_handlers[i].name.as_str(),
            });
        }
        let mounts = at.key("mountPoints");
        let mps = &self.mount_points;
        if let Some((i, first)) = first_duplicate(mps, |m| m.name.as_str()) {
            let (at, first) = (mounts.index(i).key("name"), mounts.index(first).key("name"));
            return Err(DuplicateMountName { at, first, name: mps[i].name.to_string() });
        }
        if let Some(i) = mps.iter().position(|m| m.path.as_str() == "/") {
            return Err(MountAtRoot { at: mounts.index(i).key("path"), name: mps[i].name.to_string() });
        }
        if let Some((i, first)) = first_duplicate(mps, |m| m.path.as_str()) {
            let (at, first) = (mounts.index(i).key("path"), mounts.index(first).key("path"));
            return Err(DuplicateMountPath { at, first, path: mps[i].path.to_string() });
        }
        let ports = at.key("ports");
        if let Some((i, first)) = first_duplicate(&self.ports, |p| p.name.as_str()) {
            let (at, first) = (ports.index(i).key("name"), ports.index(first).key("name"));
            return Err(DuplicatePortName { at, first, name: self.ports[i].name.to_string() });
        }
        for (i, p) in self.ports.iter().enumerate() {
            let at = ports.index(i);
            if !PORT_PROTOCOLS.contains(&p.protocol.as_str()) {
                return Err(BadProtocol { at: at.key("protocol"), protocol: p.protocol.clone() });
            }
            if p.port == 0 {
                return Err(PortZero { at: at.key("port") });
            }
            if p.count == 0 {
                return Err(PortCountZero { at: at.key("count") });
            }
            if u64::from(p.port) + u64::from(p.count) > 65536 {
                return Err(PortRangeOverflow { at, port: p.port, count: p.count });
            }
        }
        let isolators = at.key("isolators");
        if let Some((i, first)) = first_duplicate(&self.isolators, Isolator::name) {
            let (at, first) = (isolators.index(i).key("name"), isolators.index(first).key("name"));
            return Err(DuplicateIsolator { at, first, name: self.isolators[i].name() });
        }
        let position = |name: &str| self.isolators.iter().position(|i| i.name() == name);
        for (a, b) in CONFLICTING_ISOLATORS {
            if let (Some(ia), Some(ib)) = (position(a), position(b)) {
                // Report the later one, against the earlier.
                let ((first, first_i), (second, second_i)) =
                    if ia < ib { ((a, ia), (b, ib)) } else { ((b, ib), (a, ia)) };
                return Err(ConflictingIsolators {
                    at: isolators.index(second_i).key("name"),
                    first_at: isolators.index(first_i).key("name"),
                    first,
                    second,
                });
            }
        }
        Ok(())
    }
}

impl ImageManifest {
    /// Checks every rule that spans fields; single values are valid by their
    /// types already. Errors carry the JSON path of the offending value.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let labels_at = Location::keys(&["labels"]);
        check_labels(&labels_at, &self.labels)?;
        let label = |n: &str| self.labels.iter().position(|l| l.name.as_str() == n);
        let missing = |missing| ManifestError::MissingOsArch { at: labels_at.clone(), missing };
        let os = label("os").ok_or_else(|| missing("os"))?;
        let arch = label("arch").ok_or_else(|| missing("arch"))?;
        let (os_v, arch_v) = (&self.labels[os].value, &self.labels[arch].value);
        if !is_valid_os_arch(os_v, arch_v) {
            return Err(ManifestError::InvalidOsArch {
                at: labels_at.index(arch).key("value"),
                os: os_v.clone(),
                arch: arch_v.clone(),
            });
        }
        if let Some(app) = &self.app {
            app.validate(&Location::keys(&["app"]))?;
        }
        for (i, dep) in self.dependencies.iter().enumerate() {
            check_labels(&Location::keys(&["dependencies"]).index(i).key("labels"), &dep.labels)?;
        }
        let wl = Location::keys(&["pathWhitelist"]);
        if let Some((i, first)) = first_duplicate(&self.path_whitelist, |p| p.as_str()) {
            let path = self.path_whitelist[i].to_string();
            return Err(ManifestError::DuplicateWhitelistPath { at: wl.index(i), first: wl.index(first), path });
        }
        let ann = Location::keys(&["annotations"]);
        if let Some((i, first)) = first_duplicate(&self.annotations, |a| a.name.as_str()) {
            let name = self.annotations[i].name.to_string();
            let (at, first) = (ann.index(i).key("name"), ann.index(first).key("name"));
            return Err(ManifestError::DuplicateAnnotation { at, first, name });
        }
        for (i, a) in self.annotations.iter().enumerate() {
            check_annotation(ann.index(i).key("value"), a.name.as_str(), &a.value)?;
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
            let at = Location::from(e.path());
            ManifestError::Json { at, message: e.into_inner().to_string() }
        })?;
        // Anything after the manifest object (a second object, garbage) is refused.
        de.end().map_err(|e| ManifestError::Json { at: Location::root(), message: e.to_string() })?;
        m.validate()?;
        Ok(m)
    }
}

/// Checks the well-known annotations' values; `at` is where the value sits.
fn check_annotation(at: Location, name: &str, value: &str) -> Result<(), ManifestError> {
    match name {
        "created" => value.parse::<Timestamp>().map(drop).map_err(|reason| ManifestError::BadCreated { at, reason }),
        "homepage" | "documentation" => value.parse::<HttpUrl>().map(drop).map_err(|reason| ManifestError::BadUrl {
            at,
            name: name.to_string(),
            reason,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
