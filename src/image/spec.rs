//! From the user's `mkACI` arguments ([`AciSpec`], the Nix/Rust contract in
//! [`crate::nix::attrs`]) to a valid [`ImageManifest`], the image file name, the
//! compression and whether to sign.
//!
//! The work is split in two, so that each appc rule is checked exactly once:
//!
//! - Here, the *shape* of the user's JSON is checked and turned into typed
//!   manifest values: a port that is not an object, `exec` that is neither a
//!   string nor a list, a mount path that is not an absolute path, an unknown
//!   compression... The manifest types cannot even hold such values.
//! - Every rule between values (uniqueness, os/arch pairs, port ranges, the
//!   well-known annotations, ...) is left to [`ImageManifest::validate`], the
//!   same check `mkaci verify` runs. While it builds the manifest, [`from_spec`]
//!   records which `mkACI` argument each manifest element came from
//!   (`app.mountPoints[2]` <- `mountsRo.data`, `app.ports[0]` <- `ports.http`,
//!   `annotations[0]` <- `annotations.created`, ...), and maps the [`Location`]
//!   of a broken rule back to that argument.
//!
//! So every refusal is a [`SpecError`] whose message names the `mkACI` argument
//! (e.g. `mountsRo.data`), shows the bad value and says what is allowed.
//! The Rust side is the authority on validity; `nix/mkACI.nix` only normalises.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::image::compression::{
    Compression, GzipLevel, LevelError, XzLevel, ZstdLevel, DEFAULT_GZIP_LEVEL, DEFAULT_XZ_LEVEL, DEFAULT_ZSTD_LEVEL,
};
use crate::image::manifest::ident::{
    AbsPath, AbsPathError, AcIdentifier, AcIdentifierError, AcName, AcNameError, AcVersion, EnvNameError, HttpUrlError,
    TimestampError,
};
use crate::image::manifest::isolator::{compact, Isolator, IsolatorError};
use crate::image::manifest::location::{Location, Step};
use crate::image::manifest::{
    valid_os_arch_list, Annotation, App, EnvVar, EventHandler, EventName, Exec, ExecError, ImageManifest,
    ImageManifestKind, Label, ManifestError, MountPoint, Port,
};
use crate::nix::attrs::AciSpec;
use crate::nix::names;
use crate::nix::store_path::{StoreDir, StorePath};

/// The `created` annotation when the user gives none: fixed, so builds are reproducible.
pub const DEFAULT_CREATED: &str = "1970-01-01T00:00:01Z";

/// What [`from_spec`] needs besides the user's arguments.
#[derive(Debug, Clone, Copy)]
pub struct SpecContext<'a> {
    /// The Nix system, e.g. `x86_64-linux`; gives the `os` and `arch` labels.
    pub system: &'a str,
    /// The store directory the thin mounts live in.
    pub store: &'a StoreDir,
    /// For a thin image, the closure's store paths: one read-only mount point
    /// `nix-<hash>` each, at the path's place in `store`; empty for a fat image.
    /// Mount points follow this order.
    pub thin_mounts: &'a [StorePath],
}

/// The result of [`from_spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub manifest: ImageManifest,
    /// `<last '/'-component of name>-<version or "latest">-<os>-<arch>.aci`.
    pub file_name: String,
    pub compression: Compression,
    pub sign: bool,
}

const AC_ID_RULE: &str = "lowercase a-z, 0-9, separated by single - . _ ~ /";
const AC_NAME_RULE: &str = "lowercase a-z, 0-9, separated by single -";
const PORT_SHAPE: &str = r#"a list of { name, protocol, port, count?, socketActivated? } or an attrset name -> { protocol, port, count?, socketActivated? }"#;
const ISOLATORS_SHAPE: &str = r#"an attrset name -> value, a list of { name, value }, or a JSON string of either"#;
const EVENTS_SHAPE: &str = r#"an attrset { "pre-start" = exec; "post-stop" = exec; } or a list of { name, exec }"#;
const PORT_NUMBER: &str = "an integer from 1 to 65535";
const PORT_PROTOCOL: &str = "\"tcp\" or \"udp\"";

fn quoted(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("use {s:?}"),
        None => "use e.g. \"data\"".to_string(),
    }
}

/// Why the user's arguments cannot become an image. Each message starts with
/// the `mkACI` argument at fault. Variants documented as "from a manifest rule"
/// are what [`ImageManifest::validate`] found, told in `mkACI` terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("name: no image name: neither `name` nor a package name was given; set name = \"example.com/app\"")]
    NoName,
    #[error("name: {value:?} is not a valid AC Identifier ({AC_ID_RULE}); {}", match suggestion { Some(s) => format!("use name = {s:?}"), None => "use a name such as \"example.com/app\"".into() })]
    InvalidName { value: String, suggestion: Option<String>, source: AcIdentifierError },
    #[error("name: no name was given and the package name {value:?} has no letters or digits to derive one from; set name = \"example.com/app\"")]
    UnmappableDefaultName { value: String },
    #[error(
        "system: {system:?} has no known appc os/arch; set os and arch explicitly (allowed pairs: {})",
        valid_os_arch_list()
    )]
    UnknownSystem { system: String },
    /// From a manifest rule: the `os` and `arch` labels are no allowed pair.
    #[error("os/arch: {os:?}/{arch:?} is not an allowed appc pair{}; allowed pairs: {}", match suggestion { Some(s) => format!(" (did you mean arch = {s:?}?)"), None => String::new() }, valid_os_arch_list())]
    InvalidOsArch { os: String, arch: String, suggestion: Option<String> },
    /// From a manifest rule (a label given twice), or a `version` label without
    /// a `version` argument.
    #[error("labels.{label}: {value:?} conflicts with the {argument} argument ({current:?}); set {argument} = {value:?} instead of a label")]
    LabelConflict { label: String, argument: String, value: String, current: String },
    #[error("labels.{name}: the label name is not a valid AC Identifier ({AC_ID_RULE}): {reason}")]
    LabelName { name: String, reason: AcIdentifierError },
    /// From a manifest rule.
    #[error("labels.name: a label may not be called \"name\" (value {value:?}); set the image name with the `name` argument")]
    LabelNamedName { value: String },
    #[error("version: {value:?} contains {ch:?}, which cannot go into the image file name; use letters, digits, . _ + -, e.g. \"1.2.3\"")]
    BadVersion { value: String, ch: char },
    #[error("fileName: nix/mkACI.nix computed {nix:?} but mkaci computes {ours:?}; nix/mkACI.nix and mkaci disagree, use the mkaci that comes with this nix2aci")]
    FileNameMismatch { nix: String, ours: String },
    #[error("exec: no exec given; set exec = \"/bin/program --flag\" or a list [ \"/bin/program\" \"--flag\" ]")]
    ExecMissing,
    #[error("exec: {value} is neither a string nor a list of strings; set exec = \"/bin/program --flag\" or a list")]
    ExecShape { value: String },
    #[error("exec: {value}: {reason}")]
    Exec { value: String, reason: Box<ExecError> },
    /// From a manifest rule.
    #[error("{field}: {field} is empty; give a name or a number, e.g. {field} = \"0\"")]
    EmptyUserGroup { field: String },
    #[error("workingDirectory: {reason}")]
    WorkingDirectory { reason: AbsPathError },
    #[error("env.{name}: {reason}")]
    EnvName { name: String, reason: EnvNameError },
    /// From a manifest rule.
    #[error("env.{name}: the value {value:?} contains a NUL byte, which cannot be passed to a program; remove it")]
    EnvValueNul { name: String, value: String },
    #[error("supplementaryGIDs[{index}]: {value} is not a group ID; give integers from 0 to 4294967295")]
    SupplementaryGid { index: usize, value: String },
    #[error(
        "{field}.{name}: {name:?} is not a valid mount point name (AC Name: {AC_NAME_RULE}); {}",
        quoted(suggestion)
    )]
    MountName { field: &'static str, name: String, suggestion: Option<String>, source: AcNameError },
    #[error("{field}.{name}: {reason}")]
    MountPath { field: &'static str, name: String, reason: AbsPathError },
    /// From a manifest rule.
    #[error("{argument}: cannot mount over \"/\"; mount at a directory such as \"/data\"")]
    MountAtRoot { argument: String },
    /// From a manifest rule.
    #[error("{second}: the mount point name {name:?} is already used by {first}; give each mount point its own name")]
    DuplicateMountName { name: String, first: String, second: String },
    /// From a manifest rule.
    #[error("{second}: the path {path:?} is already mounted by {first}; give each mount point its own path")]
    DuplicateMountPath { path: String, first: String, second: String },
    #[error("ports: {value} is not {PORT_SHAPE}")]
    PortsShape { value: String },
    #[error("{at}: {value} is not a port; give {{ protocol = \"tcp\"; port = 80; }} (count and socketActivated are optional)")]
    PortEntry { at: String, value: String },
    #[error("{at}.{key}: unknown key; a port has name, protocol, port, count, socketActivated")]
    PortUnknownKey { at: String, key: String },
    /// A shape error, or from a manifest rule (protocol, port 0, count 0).
    #[error("{at}.{field}: {value} is not valid; expected {expected}")]
    PortField { at: String, field: &'static str, value: String, expected: &'static str },
    #[error("{at}.name: {value:?} is not a valid port name (AC Name: {AC_NAME_RULE}); {}", quoted(suggestion))]
    PortName { at: String, value: String, suggestion: Option<String>, source: AcNameError },
    /// From a manifest rule.
    #[error("{at}: port {port} with count {count} reaches port {}, past 65535; lower port or count", *.port + *.count - 1)]
    PortRange { at: String, port: u64, count: u64 },
    /// From a manifest rule.
    #[error("{second}: the port name {name:?} is already used by {first}; give each port its own name")]
    DuplicatePort { name: String, first: String, second: String },
    #[error("isolators: {value} is not {ISOLATORS_SHAPE}")]
    IsolatorsShape { value: String },
    #[error("isolators: the string {value:?} is not valid JSON ({message}); give {ISOLATORS_SHAPE}")]
    IsolatorsJson { value: String, message: String },
    #[error("{at}: {value} is not an isolator; give {{ name = \"resource/memory\"; value = {{ limit = \"1G\"; }}; }}")]
    IsolatorEntry { at: String, value: String },
    #[error("{at}: {reason}")]
    Isolator { at: String, reason: IsolatorError },
    /// From a manifest rule.
    #[error("{second}: the isolator {name:?} is already given by {first}; give each isolator once")]
    DuplicateIsolator { name: String, first: String, second: String },
    /// From a manifest rule.
    #[error(
        "{second_argument}: {second:?} cannot be used together with {first:?} (given by {first_argument}); keep one"
    )]
    ConflictingIsolators { first: String, second: String, first_argument: String, second_argument: String },
    #[error("eventHandlers: {value} is not {EVENTS_SHAPE}")]
    EventHandlersShape { value: String },
    #[error("{at}: {value:?} is not an event handler name; use \"pre-start\" or \"post-stop\"")]
    EventHandlerName { at: String, value: String },
    #[error("{at}: {value} is not an exec; give a string \"/bin/program --flag\" or a list of strings")]
    EventHandlerExecShape { at: String, value: String },
    #[error("{at}: {value}: {reason}")]
    EventHandlerExec { at: String, value: String, reason: Box<ExecError> },
    /// From a manifest rule.
    #[error("{second}: the {name:?} handler is already given by {first}; each event handler may appear once")]
    DuplicateEventHandler { name: String, first: String, second: String },
    #[error("annotations.{name}: the annotation name is not a valid AC Identifier ({AC_ID_RULE}): {reason}")]
    AnnotationName { name: String, reason: AcIdentifierError },
    #[error(
        "annotations.{name}: {name:?} is reserved: mkaci sets it to the SHA-256 of the image's \
         closure SBOM (<base>.closure.json); remove it from annotations"
    )]
    ReservedAnnotation { name: String },
    /// From a manifest rule.
    #[error("annotations.created: {reason}")]
    Created { reason: TimestampError },
    /// From a manifest rule.
    #[error("annotations.{name}: {reason}")]
    AnnotationUrl { name: String, reason: HttpUrlError },
    #[error("compression: {value:?} is not supported; use \"gzip\" (the default), \"xz\", \"zstd\" (OCI layers only) or \"none\"")]
    Compression { value: String },
    #[error("compressionLevel: {level} is outside {min}..={max} for {compression}; pick a level in that range or leave it unset (default {default})")]
    CompressionLevel { compression: &'static str, level: u32, min: u32, max: u32, default: u32 },
    #[error(
        "compressionLevel: {level} was given with compression = \"none\"; remove compressionLevel or choose gzip, xz or zstd"
    )]
    LevelWithoutCompression { level: u32 },
    /// From a manifest rule that the arguments cannot normally break (the
    /// rule's own message says where and why).
    #[error("{argument}: the resulting manifest breaks an appc rule: {rule}")]
    Manifest { argument: String, rule: ManifestError },
}

/// Which `mkACI` argument each manifest element came from, recorded while
/// [`from_spec`] builds the manifest.
#[derive(Debug, Default)]
struct Origins(Vec<(Location, String)>);

impl Origins {
    fn record(&mut self, at: Location, argument: impl Into<String>) {
        self.0.push((at, argument.into()));
    }

    /// The argument of the closest recorded element containing `at`; the
    /// manifest path itself if none was recorded.
    fn argument(&self, at: &Location) -> String {
        self.0
            .iter()
            .filter(|(loc, _)| at.starts_with(loc))
            .max_by_key(|(loc, _)| loc.steps().len())
            .map(|(_, arg)| arg.clone())
            .unwrap_or_else(|| format!("the manifest's {at}"))
    }
}

/// The JSON value at `at` in `json`, as text for messages.
fn value_at(json: &Value, at: &Location) -> Option<String> {
    let mut v = json;
    for step in at.steps() {
        v = match step {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    })
}

fn check_name(spec: &AciSpec) -> Result<AcIdentifier, SpecError> {
    if let Some(value) = &spec.name {
        return value.parse().map_err(|source| SpecError::InvalidName {
            value: value.clone(),
            suggestion: AcIdentifier::map_from(value).map(|i| i.to_string()),
            source,
        });
    }
    match &spec.default_name {
        Some(raw) => AcIdentifier::map_from(raw).ok_or_else(|| SpecError::UnmappableDefaultName { value: raw.clone() }),
        None => Err(SpecError::NoName),
    }
}

fn exec_from_value(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(s.split_ascii_whitespace().map(str::to_string).collect()),
        Value::Array(items) => items.iter().map(|v| v.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn check_exec(value: Option<&Value>) -> Result<Exec, SpecError> {
    let value = value.filter(|v| !v.is_null()).ok_or(SpecError::ExecMissing)?;
    let args = exec_from_value(value).ok_or_else(|| SpecError::ExecShape { value: compact(value) })?;
    Exec::new(args).map_err(|reason| SpecError::Exec { value: compact(value), reason: Box::new(reason) })
}

fn check_version(version: Option<&String>) -> Result<Option<String>, SpecError> {
    let Some(v) = version.filter(|v| !v.is_empty()) else { return Ok(None) };
    if let Some(ch) = v.chars().find(|c| *c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(SpecError::BadVersion { value: v.clone(), ch });
    }
    Ok(Some(v.clone()))
}

/// The compression `spec` asks for (`compression`, `compressionLevel`),
/// checked; what every image and layer of it is written with.
pub fn check_compression(spec: &AciSpec) -> Result<Compression, SpecError> {
    let level = spec.compression_level;
    // The ranges are the archive's own (`GzipLevel::RANGE`, ...);
    // here an out-of-range level becomes a message naming the argument.
    let make = |compression: &'static str,
                range: std::ops::RangeInclusive<u32>,
                default: u32,
                new: fn(u32) -> Result<Compression, LevelError>| {
        new(level.unwrap_or(default)).map_err(|_| SpecError::CompressionLevel {
            compression,
            level: level.unwrap_or(default),
            min: *range.start(),
            max: *range.end(),
            default,
        })
    };
    match spec.compression.as_deref().unwrap_or("gzip") {
        "gzip" => make("gzip", GzipLevel::RANGE, DEFAULT_GZIP_LEVEL, Compression::gzip),
        "xz" => make("xz", XzLevel::RANGE, DEFAULT_XZ_LEVEL, Compression::xz),
        // Whether the format can hold it is the format's to say (an ACI
        // cannot, an OCI layer can).
        "zstd" => make("zstd", ZstdLevel::RANGE, DEFAULT_ZSTD_LEVEL, Compression::zstd),
        "none" => match level {
            Some(level) => Err(SpecError::LevelWithoutCompression { level }),
            None => Ok(Compression::None),
        },
        other => Err(SpecError::Compression { value: other.to_string() }),
    }
}

fn check_gids(spec: &AciSpec) -> Result<Vec<u32>, SpecError> {
    spec.supplementary_gids
        .iter()
        .enumerate()
        .map(|(index, v)| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| SpecError::SupplementaryGid { index, value: compact(v) })
        })
        .collect()
}

/// Sorted entries of a JSON object (Nix writes attrsets sorted, but be explicit).
fn sorted(obj: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = obj.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn event_name(at: &str, name: &str) -> Result<EventName, SpecError> {
    match name {
        "pre-start" => Ok(EventName::PreStart),
        "post-stop" => Ok(EventName::PostStop),
        _ => Err(SpecError::EventHandlerName { at: at.to_string(), value: name.to_string() }),
    }
}

fn event_exec(at: &str, v: &Value) -> Result<Exec, SpecError> {
    let args =
        exec_from_value(v).ok_or_else(|| SpecError::EventHandlerExecShape { at: at.to_string(), value: compact(v) })?;
    Exec::new(args).map_err(|reason| SpecError::EventHandlerExec {
        at: at.to_string(),
        value: compact(v),
        reason: Box::new(reason),
    })
}

/// The `os`, `arch` and `version` labels, then the user's, sorted by name.
/// A user label that repeats an argument's label with the same value is
/// dropped; with another value it is kept, and the manifest's duplicate-label
/// rule refuses it (told as [`SpecError::LabelConflict`]).
fn build_labels(
    spec: &AciSpec,
    os: &str,
    arch: &str,
    version: Option<&str>,
    origins: &mut Origins,
) -> Result<Vec<Label>, SpecError> {
    let at = Location::keys(&["labels"]);
    let label = |name: &str, value: &str| Label {
        name: name.parse().expect("os, arch and version are AC Identifiers"),
        value: value.to_string(),
    };
    let mut labels = vec![label("os", os), label("arch", arch)];
    origins.record(at.index(0), if spec.os.is_some() { "os" } else { "system" });
    origins.record(at.index(1), if spec.arch.is_some() { "arch" } else { "system" });
    if let Some(v) = version {
        labels.push(label("version", v));
        origins.record(at.index(2), "version");
    }
    for (name, value) in &spec.labels {
        let current = match name.as_str() {
            "os" => Some(os),
            "arch" => Some(arch),
            "version" => Some(version.unwrap_or("")),
            _ => None,
        };
        if current == Some(value.as_str()) {
            continue; // the same value twice: harmless
        }
        if name == "version" && version.is_none() {
            // Not a manifest rule: the file name would say "latest" while the label says otherwise.
            return Err(SpecError::LabelConflict {
                label: name.clone(),
                argument: name.clone(),
                value: value.clone(),
                current: String::new(),
            });
        }
        let id = name.parse().map_err(|reason| SpecError::LabelName { name: name.clone(), reason })?;
        origins.record(at.index(labels.len()), format!("labels.{name}"));
        labels.push(Label { name: id, value: value.clone() });
    }
    Ok(labels)
}

fn build_env(spec: &AciSpec, origins: &mut Origins) -> Result<Vec<EnvVar>, SpecError> {
    let at = Location::keys(&["app", "environment"]);
    let mut out = Vec::new();
    for (name, value) in &spec.env {
        let n = name.parse().map_err(|reason| SpecError::EnvName { name: name.clone(), reason })?;
        origins.record(at.index(out.len()), format!("env.{name}"));
        out.push(EnvVar { name: n, value: value.clone() });
    }
    Ok(out)
}

/// `mounts` (read-write), then `mountsRo` (read-only), each sorted by name, then
/// one read-only `nix-<hash>` per thin mount.
fn build_mounts(spec: &AciSpec, ctx: &SpecContext, origins: &mut Origins) -> Result<Vec<MountPoint>, SpecError> {
    let at = Location::keys(&["app", "mountPoints"]);
    let mut all = Vec::new();
    for (field, map, read_only) in [("mounts", &spec.mounts, false), ("mountsRo", &spec.mounts_ro, true)] {
        for (name, path) in map {
            let n: AcName = name.parse().map_err(|source| SpecError::MountName {
                field,
                name: name.clone(),
                suggestion: AcName::map_from(name).map(|n| n.to_string()),
                source,
            })?;
            let p: AbsPath =
                path.path().parse().map_err(|reason| SpecError::MountPath { field, name: name.clone(), reason })?;
            origins.record(at.index(all.len()), format!("{field}.{name}"));
            all.push(MountPoint { name: n, path: p, read_only });
        }
    }
    for sp in ctx.thin_mounts {
        let path = ctx.store.display(sp);
        let name = format!("nix-{}", sp.hash())
            .parse()
            .expect("a store path hash is 32 characters of 0-9 and a-z, so nix-<hash> is an AC Name");
        origins.record(at.index(all.len()), format!("the thin mount of {path}"));
        let path = path.parse().expect(
            "a store directory is absolute and normalised and a store path base name is one component \
             without NUL that does not start with '.', so a store path is an absolute path below \"/\"",
        );
        all.push(MountPoint { name, path, read_only: true });
    }
    Ok(all)
}

fn build_port(at: &str, name: &str, obj: &serde_json::Map<String, Value>, skip_name: bool) -> Result<Port, SpecError> {
    for key in obj.keys() {
        let known =
            matches!(key.as_str(), "protocol" | "port" | "count" | "socketActivated") || (key == "name" && !skip_name);
        if !known {
            return Err(SpecError::PortUnknownKey { at: at.to_string(), key: key.clone() });
        }
    }
    let n: AcName = name.parse().map_err(|source| SpecError::PortName {
        at: at.to_string(),
        value: name.to_string(),
        suggestion: AcName::map_from(name).map(|n| n.to_string()),
        source,
    })?;
    let field_err = |field: &'static str, v: &Value, expected: &'static str| SpecError::PortField {
        at: at.to_string(),
        field,
        value: compact(v),
        expected,
    };
    let missing = Value::Null;
    let proto_v = obj.get("protocol").unwrap_or(&missing);
    let protocol = proto_v.as_str().ok_or_else(|| field_err("protocol", proto_v, PORT_PROTOCOL))?.to_string();
    let port_v = obj.get("port").unwrap_or(&missing);
    let port =
        port_v.as_u64().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| field_err("port", port_v, PORT_NUMBER))?;
    let count = match obj.get("count") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().and_then(|c| u32::try_from(c).ok()).ok_or_else(|| field_err("count", v, PORT_NUMBER))?,
    };
    let socket_activated = match obj.get("socketActivated") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(field_err("socketActivated", v, "true or false")),
    };
    Ok(Port { name: n, protocol, port, count, socket_activated })
}

fn build_ports(value: Option<&Value>, origins: &mut Origins) -> Result<Vec<Port>, SpecError> {
    let at = Location::keys(&["app", "ports"]);
    let mut ports = Vec::new();
    let mut push = |ports: &mut Vec<Port>, argument: String, port: Port| {
        origins.record(at.index(ports.len()), argument);
        ports.push(port);
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let arg = format!("ports[{i}]");
                let obj =
                    item.as_object().ok_or_else(|| SpecError::PortEntry { at: arg.clone(), value: compact(item) })?;
                let name_v = obj.get("name").unwrap_or(&Value::Null);
                let name = name_v.as_str().ok_or_else(|| SpecError::PortField {
                    at: arg.clone(),
                    field: "name",
                    value: compact(name_v),
                    expected: "a port name such as \"http\"",
                })?;
                let port = build_port(&arg, name, obj, false)?;
                push(&mut ports, arg, port);
            }
        }
        Some(Value::Object(map)) => {
            for (name, item) in sorted(map) {
                let arg = format!("ports.{name}");
                let obj =
                    item.as_object().ok_or_else(|| SpecError::PortEntry { at: arg.clone(), value: compact(item) })?;
                let port = build_port(&arg, name, obj, true)?;
                push(&mut ports, arg, port);
            }
        }
        Some(other) => return Err(SpecError::PortsShape { value: compact(other) }),
    }
    Ok(ports)
}

fn build_isolators(value: Option<&Value>, origins: &mut Origins) -> Result<Vec<Isolator>, SpecError> {
    let parsed;
    let value = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| SpecError::IsolatorsJson { value: s.clone(), message: e.to_string() })?;
            &parsed
        }
        Some(v) => v,
    };
    let loc = Location::keys(&["app", "isolators"]);
    let mut out = Vec::new();
    let mut entries: Vec<(String, &str, Option<&Value>)> = Vec::new();
    match value {
        Value::Object(map) => {
            for (name, v) in sorted(map) {
                entries.push((format!("isolators.{name}"), name, Some(v)));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("isolators[{i}]");
                let entry = item.as_object().filter(|o| o.keys().all(|k| k == "name" || k == "value"));
                let name = entry.and_then(|o| o.get("name")).and_then(Value::as_str);
                let (Some(obj), Some(name)) = (entry, name) else {
                    return Err(SpecError::IsolatorEntry { at, value: compact(item) });
                };
                entries.push((at, name, obj.get("value")));
            }
        }
        other => return Err(SpecError::IsolatorsShape { value: compact(other) }),
    }
    for (at, name, v) in entries {
        let iso =
            Isolator::from_name_value(name, v).map_err(|reason| SpecError::Isolator { at: at.clone(), reason })?;
        origins.record(loc.index(out.len()), at);
        out.push(iso);
    }
    Ok(out)
}

fn build_event_handlers(value: Option<&Value>, origins: &mut Origins) -> Result<Vec<EventHandler>, SpecError> {
    let mut out: Vec<(EventHandler, String)> = Vec::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, v) in sorted(map) {
                let at = format!("eventHandlers.{name}");
                out.push((EventHandler { name: event_name(&at, name)?, exec: event_exec(&at, v)? }, at));
            }
            out.sort_by_key(|(h, _)| h.name); // pre-start before post-stop
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("eventHandlers[{i}]");
                let obj = item
                    .as_object()
                    .filter(|o| o.keys().all(|k| k == "name" || k == "exec"))
                    .ok_or_else(|| SpecError::EventHandlersShape { value: compact(item) })?;
                let name_v = obj.get("name").unwrap_or(&Value::Null);
                let name = name_v
                    .as_str()
                    .ok_or_else(|| SpecError::EventHandlerName { at: at.clone(), value: compact(name_v) })?;
                let exec_v = obj.get("exec").unwrap_or(&Value::Null);
                let handler =
                    EventHandler { name: event_name(&at, name)?, exec: event_exec(&format!("{at}.exec"), exec_v)? };
                out.push((handler, at));
            }
        }
        Some(other) => return Err(SpecError::EventHandlersShape { value: compact(other) }),
    }
    let loc = Location::keys(&["app", "eventHandlers"]);
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(i, (h, at))| {
            origins.record(loc.index(i), at);
            h
        })
        .collect())
}

/// The user's annotations sorted by name, with `created` added if missing.
fn build_annotations(spec: &AciSpec, origins: &mut Origins) -> Result<Vec<Annotation>, SpecError> {
    let mut map: BTreeMap<AcIdentifier, String> = BTreeMap::new();
    for (name, value) in &spec.annotations {
        if name == crate::image::sbom::ANNOTATION {
            return Err(SpecError::ReservedAnnotation { name: name.clone() });
        }
        let id = name.parse().map_err(|reason| SpecError::AnnotationName { name: name.clone(), reason })?;
        map.insert(id, value.clone());
    }
    map.entry("created".parse().expect("created is an AC Identifier")).or_insert_with(|| DEFAULT_CREATED.to_string());
    let at = Location::keys(&["annotations"]);
    Ok(map
        .into_iter()
        .enumerate()
        .map(|(i, (name, value))| {
            origins.record(at.index(i), format!("annotations.{name}"));
            Annotation { name, value }
        })
        .collect())
}

/// Turns the user's arguments into a manifest, a file name, a compression and
/// the signing choice, refusing anything the appc rules do not allow.
///
/// - Name: an explicit `name` must already be a valid AC Identifier (the error
///   suggests a valid form); otherwise `defaultName` (from the package's Nix name)
///   is mapped by [`AcIdentifier::map_from`].
/// - Labels: `os` and `arch` from the Nix system ([`names::os_arch_of_system`]) unless
///   the `os`/`arch` arguments override them; then `version` if given; then the
///   user's labels sorted by name.
/// - File name: [`names::image_base_name`] + [`names::aci_file_name`], `<last '/'-component of name>-<version>-<os>-<arch>.aci`,
///   with `latest` as version when none is given.
/// - Mount points: `mounts` (read-write) then `mountsRo` (read-only), each sorted
///   by name, then one read-only `nix-<hash>` per thin mount.
/// - Annotations: the user's, sorted by name, with `created` =
///   `1970-01-01T00:00:01Z` unless given.
///
/// The arguments' shapes are checked here; the manifest's rules by
/// [`ImageManifest::validate`], whose error is told in terms of the argument
/// the offending element came from.
pub fn from_spec(spec: &AciSpec, ctx: &SpecContext) -> Result<Resolved, SpecError> {
    let mut origins = Origins::default();
    let head = resolve_head(spec, ctx, &mut origins)?;
    let exec = check_exec(spec.exec.as_ref())?;
    origins.record(Location::keys(&["app", "user"]), "user");
    origins.record(Location::keys(&["app", "group"]), "group");
    origins.record(Location::keys(&["app", "exec"]), "exec");
    let working_directory = spec
        .working_directory
        .as_ref()
        .map(|w| w.parse::<AbsPath>())
        .transpose()
        .map_err(|reason| SpecError::WorkingDirectory { reason })?;
    let app = App {
        exec,
        user: spec.user.clone().unwrap_or_else(|| "0".to_string()),
        group: spec.group.clone().unwrap_or_else(|| "0".to_string()),
        supplementary_gids: check_gids(spec)?,
        event_handlers: build_event_handlers(spec.event_handlers.as_ref(), &mut origins)?,
        working_directory,
        environment: build_env(spec, &mut origins)?,
        isolators: build_isolators(spec.isolators.as_ref(), &mut origins)?,
        mount_points: build_mounts(spec, ctx, &mut origins)?,
        ports: build_ports(spec.ports.as_ref(), &mut origins)?,
        user_annotations: BTreeMap::new(),
        user_labels: BTreeMap::new(),
    };
    finish(spec, head, Some(app), origins)
}

/// The manifest of a declared layer (`mkLayer`): a dependency image with
/// the name, labels and annotations of `spec` and no app.
pub fn layer_from_spec(spec: &AciSpec, ctx: &SpecContext) -> Result<Resolved, SpecError> {
    let mut origins = Origins::default();
    let head = resolve_head(spec, ctx, &mut origins)?;
    finish(spec, head, None, origins)
}

/// What every image has: the name and the labels.
struct Head {
    name: AcIdentifier,
    os: String,
    arch: String,
    version: Option<String>,
    labels: Vec<Label>,
}

fn resolve_head(spec: &AciSpec, ctx: &SpecContext, origins: &mut Origins) -> Result<Head, SpecError> {
    let name = check_name(spec)?;
    let from_system = names::os_arch_of_system(ctx.system);
    let unknown = || SpecError::UnknownSystem { system: ctx.system.to_string() };
    let os = match (&spec.os, from_system) {
        (Some(os), _) => os.clone(),
        (None, Some((os, _))) => os.to_string(),
        (None, None) => return Err(unknown()),
    };
    let arch = match (&spec.arch, from_system) {
        (Some(arch), _) => arch.clone(),
        (None, Some((_, arch))) => arch.to_string(),
        (None, None) => return Err(unknown()),
    };
    let version = check_version(spec.version.as_ref())?;
    let labels = build_labels(spec, &os, &arch, version.as_deref(), origins)?;
    Ok(Head { name, os, arch, version, labels })
}

fn finish(spec: &AciSpec, head: Head, app: Option<App>, mut origins: Origins) -> Result<Resolved, SpecError> {
    let Head { name, os, arch, version, labels } = head;
    let manifest = ImageManifest {
        ac_kind: ImageManifestKind,
        ac_version: AcVersion::current(),
        name,
        labels,
        app,
        dependencies: Vec::new(),
        path_whitelist: Vec::new(),
        annotations: build_annotations(spec, &mut origins)?,
    };
    let compression = check_compression(spec)?;
    manifest.validate().map_err(|rule| explain(rule, &origins, &manifest))?;
    let file_name =
        names::aci_file_name(&names::image_base_name(manifest.name.last_component(), version.as_deref(), &os, &arch));
    if let Some(nix) = &spec.file_name {
        if *nix != file_name {
            return Err(SpecError::FileNameMismatch { nix: nix.clone(), ours: file_name });
        }
    }
    Ok(Resolved { manifest, file_name, compression, sign: spec.sign })
}

/// Tells a broken manifest rule in terms of the `mkACI` arguments: the argument
/// each element came from (`origins`), the bad value, and the fix.
fn explain(rule: ManifestError, origins: &Origins, manifest: &ImageManifest) -> SpecError {
    use ManifestError as M;
    let json = serde_json::to_value(manifest).expect("ImageManifest serialises");
    let value = |at: &Location| value_at(&json, at).unwrap_or_default();
    let arg = |at: &Location| origins.argument(at);
    // Index-level location of a field location such as `app.ports[0].port`.
    let item = |at: &Location| at.parent();
    match rule {
        M::LabelNamedName { at } => SpecError::LabelNamedName { value: value(&item(&at).key("value")) },
        M::DuplicateLabel { at, first, name } if ["os", "arch", "version"].contains(&name.as_str()) => {
            SpecError::LabelConflict {
                argument: name.clone(),
                label: name,
                value: value(&item(&at).key("value")),
                current: value(&item(&first).key("value")),
            }
        }
        M::InvalidOsArch { os, arch, .. } => {
            let suggestion = names::arch_suggestion(&os, &arch);
            SpecError::InvalidOsArch { os, arch, suggestion }
        }
        M::EmptyUserGroup { at } => SpecError::EmptyUserGroup { field: arg(&at) },
        M::EnvValueNul { at, name } => SpecError::EnvValueNul { name, value: value(&at) },
        M::DuplicateEventHandler { at, first, name } => {
            SpecError::DuplicateEventHandler { name: name.to_string(), first: arg(&first), second: arg(&at) }
        }
        M::DuplicateMountName { at, first, name } => {
            SpecError::DuplicateMountName { name, first: arg(&first), second: arg(&at) }
        }
        M::DuplicateMountPath { at, first, path } => {
            SpecError::DuplicateMountPath { path, first: arg(&first), second: arg(&at) }
        }
        M::MountAtRoot { at, .. } => SpecError::MountAtRoot { argument: arg(&at) },
        M::DuplicatePortName { at, first, name } => {
            SpecError::DuplicatePort { name, first: arg(&first), second: arg(&at) }
        }
        M::BadProtocol { at, protocol } => SpecError::PortField {
            at: arg(&at),
            field: "protocol",
            value: compact(&Value::String(protocol)),
            expected: PORT_PROTOCOL,
        },
        M::PortZero { at } => {
            SpecError::PortField { at: arg(&at), field: "port", value: "0".into(), expected: PORT_NUMBER }
        }
        M::PortCountZero { at } => {
            SpecError::PortField { at: arg(&at), field: "count", value: "0".into(), expected: PORT_NUMBER }
        }
        M::PortRangeOverflow { at, port, count } => {
            SpecError::PortRange { at: arg(&at), port: port.into(), count: count.into() }
        }
        M::DuplicateIsolator { at, first, name } => {
            SpecError::DuplicateIsolator { name: name.to_string(), first: arg(&first), second: arg(&at) }
        }
        M::ConflictingIsolators { at, first_at, first, second } => SpecError::ConflictingIsolators {
            first: first.to_string(),
            second: second.to_string(),
            first_argument: arg(&first_at),
            second_argument: arg(&at),
        },
        M::BadCreated { reason, .. } => SpecError::Created { reason },
        M::BadUrl { name, reason, .. } => SpecError::AnnotationUrl { name, reason },
        rule => SpecError::Manifest { argument: arg(rule.at()), rule },
    }
}
