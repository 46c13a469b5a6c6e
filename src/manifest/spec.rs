//! From the user's `mkACI` arguments ([`AciSpec`], the Nix/Rust contract in
//! [`crate::attrs`]) to a valid [`ImageManifest`], the image file name, the
//! compression and whether to sign.
//!
//! Every refusal is a [`SpecError`] whose message names the `mkACI` argument
//! (e.g. `mountsRo.data`), shows the bad value and says what is allowed.
//! The Rust side is the authority on validity; `nix/mkACI.nix` only normalises.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::ident::{
    AbsPath, AbsPathError, AcIdentifier, AcIdentifierError, AcName, AcNameError, AcVersion, EnvNameError, HttpUrl,
    HttpUrlError, Timestamp, TimestampError,
};
use super::isolator::{compact, Isolator, IsolatorError};
use super::{
    is_valid_os_arch, valid_os_arch_list, Annotation, App, EnvVar, EventHandler, EventName, Exec, ExecError,
    ImageManifest, ImageManifestKind, Label, ManifestError, MountPoint, Port, PORT_PROTOCOLS,
};
use crate::archive::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_XZ_LEVEL};
use crate::attrs::AciSpec;

/// The `created` annotation when the user gives none: fixed, so builds are reproducible.
pub const DEFAULT_CREATED: &str = "1970-01-01T00:00:01Z";

/// The version part of the file name when no `version` is given.
pub const NO_VERSION: &str = "latest";

/// One store path of a thin image's closure, mounted read-only from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinMount {
    /// The 32-character hash part of the store path's base name.
    pub hash: String,
    /// The absolute store path, e.g. `/nix/store/<hash>-bash-5.2`.
    pub path: String,
}

/// What [`from_spec`] needs besides the user's arguments.
#[derive(Debug, Clone, Copy)]
pub struct SpecContext<'a> {
    /// The Nix system, e.g. `x86_64-linux`; gives the `os` and `arch` labels.
    pub system: &'a str,
    /// For a thin image, one entry per closure path (one read-only mount point
    /// `nix-<hash>` each); empty for a fat image. Mount points follow this order.
    pub thin_mounts: &'a [ThinMount],
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

fn quoted(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("use {s:?}"),
        None => "use e.g. \"data\"".to_string(),
    }
}

/// Why the user's arguments cannot become an image.
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
    #[error("os/arch: {os:?}/{arch:?} is not an allowed appc pair{}; allowed pairs: {}", match suggestion { Some(s) => format!(" (did you mean arch = {s:?}?)"), None => String::new() }, valid_os_arch_list())]
    InvalidOsArch { os: String, arch: String, suggestion: Option<String> },
    #[error("labels.{label}: {value:?} conflicts with the {argument} argument ({current:?}); set {argument} = {value:?} instead of a label")]
    LabelConflict { label: &'static str, argument: &'static str, value: String, current: String },
    #[error("labels.{name}: the label name is not a valid AC Identifier ({AC_ID_RULE}): {source}")]
    LabelName { name: String, source: AcIdentifierError },
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
    #[error("exec: {value}: {source}")]
    Exec { value: String, source: Box<ExecError> },
    #[error("{field}: {field} is empty; give a name or a number, e.g. {field} = \"0\"")]
    EmptyUserGroup { field: &'static str },
    #[error("workingDirectory: {source}")]
    WorkingDirectory { source: AbsPathError },
    #[error("env.{name}: {source}")]
    EnvName { name: String, source: EnvNameError },
    #[error("env.{name}: the value {value:?} contains a NUL byte, which cannot be passed to a program; remove it")]
    EnvValueNul { name: String, value: String },
    #[error("supplementaryGIDs[{index}]: {value} is not a group ID; give integers from 0 to 4294967295")]
    SupplementaryGid { index: usize, value: String },
    #[error(
        "{field}.{name}: {name:?} is not a valid mount point name (AC Name: {AC_NAME_RULE}); {}",
        quoted(suggestion)
    )]
    MountName { field: &'static str, name: String, suggestion: Option<String>, source: AcNameError },
    #[error("{field}.{name}: {source}")]
    MountPath { field: &'static str, name: String, source: AbsPathError },
    #[error("{field}.{name}: cannot mount over \"/\"; mount at a directory such as \"/data\"")]
    MountAtRoot { field: &'static str, name: String },
    #[error("{second}: the mount point name {name:?} is already used by {first}; give each mount point its own name")]
    DuplicateMountName { name: String, first: String, second: String },
    #[error("{second}: the path {path:?} is already mounted by {first}; give each mount point its own path")]
    DuplicateMountPath { path: String, first: String, second: String },
    #[error("thin image: closure path {path:?}: \"nix-{hash}\" is not a valid mount point name ({source}); the closure must hold valid store paths")]
    ThinMountName { hash: String, path: String, source: AcNameError },
    #[error("thin image: closure path {path:?} is not a usable mount path ({source}); the closure must hold absolute store paths")]
    ThinMountPath { path: String, source: AbsPathError },
    #[error("thin image: closure path \"/\" cannot be mounted; the closure must hold store paths")]
    ThinMountAtRoot,
    #[error("ports: {value} is not {PORT_SHAPE}")]
    PortsShape { value: String },
    #[error("{at}: {value} is not a port; give {{ protocol = \"tcp\"; port = 80; }} (count and socketActivated are optional)")]
    PortEntry { at: String, value: String },
    #[error("{at}.{key}: unknown key; a port has name, protocol, port, count, socketActivated")]
    PortUnknownKey { at: String, key: String },
    #[error("{at}.{field}: {value} is not valid; expected {expected}")]
    PortField { at: String, field: &'static str, value: String, expected: &'static str },
    #[error("{at}.name: {value:?} is not a valid port name (AC Name: {AC_NAME_RULE}); {}", quoted(suggestion))]
    PortName { at: String, value: String, suggestion: Option<String>, source: AcNameError },
    #[error("{at}: port {port} with count {count} reaches port {}, past 65535; lower port or count", *.port + *.count - 1)]
    PortRange { at: String, port: u64, count: u64 },
    #[error("ports.{name}: the port name {name:?} appears twice; give each port its own name")]
    DuplicatePort { name: String },
    #[error("isolators: {value} is not {ISOLATORS_SHAPE}")]
    IsolatorsShape { value: String },
    #[error("isolators: the string {value:?} is not valid JSON ({message}); give {ISOLATORS_SHAPE}")]
    IsolatorsJson { value: String, message: String },
    #[error("{at}: {value} is not an isolator; give {{ name = \"resource/memory\"; value = {{ limit = \"1G\"; }}; }}")]
    IsolatorEntry { at: String, value: String },
    #[error("{at}: {source}")]
    Isolator { at: String, source: IsolatorError },
    #[error("isolators.{name}: given twice; give each isolator once")]
    DuplicateIsolator { name: String },
    #[error("isolators: {first:?} and {second:?} cannot be used together; keep one")]
    ConflictingIsolators { first: String, second: String },
    #[error("eventHandlers: {value} is not {EVENTS_SHAPE}")]
    EventHandlersShape { value: String },
    #[error("{at}: {value:?} is not an event handler name; use \"pre-start\" or \"post-stop\"")]
    EventHandlerName { at: String, value: String },
    #[error("{at}: {value} is not an exec; give a string \"/bin/program --flag\" or a list of strings")]
    EventHandlerExecShape { at: String, value: String },
    #[error("{at}: {value}: {source}")]
    EventHandlerExec { at: String, value: String, source: Box<ExecError> },
    #[error("eventHandlers.{name}: given twice; each event handler may appear once")]
    DuplicateEventHandler { name: String },
    #[error("annotations.{name}: the annotation name is not a valid AC Identifier ({AC_ID_RULE}): {source}")]
    AnnotationName { name: String, source: AcIdentifierError },
    #[error("annotations.created: {source}")]
    Created { source: TimestampError },
    #[error("annotations.{name}: {source}")]
    AnnotationUrl { name: String, source: HttpUrlError },
    #[error("compression: {value:?} is not supported; use \"gzip\" (the default), \"xz\" or \"none\"")]
    Compression { value: String },
    #[error("compressionLevel: {level} is outside {min}..={max} for {compression}; pick a level in that range or leave it unset (default {default})")]
    CompressionLevel { compression: &'static str, level: u32, min: u32, max: u32, default: u32 },
    #[error(
        "compressionLevel: {level} was given with compression = \"none\"; remove compressionLevel or choose gzip or xz"
    )]
    LevelWithoutCompression { level: u32 },
    #[error("the resulting manifest breaks an appc rule: {0}")]
    Manifest(#[from] ManifestError),
}

/// The appc `(os, arch)` of a Nix system, e.g. `x86_64-linux` -> `linux`/`amd64`.
/// Go names such as `x86_64` or `arm64` are not appc arch names.
pub fn os_arch_of_system(system: &str) -> Option<(&'static str, &'static str)> {
    Some(match system {
        "x86_64-linux" => ("linux", "amd64"),
        "i686-linux" => ("linux", "i386"),
        "aarch64-linux" => ("linux", "aarch64"),
        "armv6l-linux" => ("linux", "armv6l"),
        "armv7l-linux" => ("linux", "armv7l"),
        "powerpc64-linux" => ("linux", "ppc64"),
        "powerpc64le-linux" => ("linux", "ppc64le"),
        "s390x-linux" => ("linux", "s390x"),
        "x86_64-freebsd" => ("freebsd", "amd64"),
        "i686-freebsd" => ("freebsd", "i386"),
        "x86_64-darwin" => ("darwin", "x86_64"),
        "i686-darwin" => ("darwin", "i386"),
        _ => return None,
    })
}

/// A likely intended arch for a wrong one (Go or Nix names), for messages.
fn arch_suggestion(os: &str, arch: &str) -> Option<String> {
    let guess = match (os, arch) {
        ("darwin", "amd64") => "x86_64",
        (_, "x86_64" | "x86-64" | "x64") => "amd64",
        (_, "arm64") => "aarch64",
        (_, "386" | "i686" | "i586" | "x86") => "i386",
        ("linux", "arm" | "armv7" | "armhf") => "armv7l",
        ("linux", "armv6") => "armv6l",
        ("linux", "ppc64el" | "powerpc64le") => "ppc64le",
        _ => return None,
    };
    is_valid_os_arch(os, guess).then(|| guess.to_string())
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
    Exec::new(args).map_err(|source| SpecError::Exec { value: compact(value), source: Box::new(source) })
}

fn check_version(version: Option<&String>) -> Result<Option<String>, SpecError> {
    let Some(v) = version.filter(|v| !v.is_empty()) else { return Ok(None) };
    if let Some(ch) = v.chars().find(|c| *c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(SpecError::BadVersion { value: v.clone(), ch });
    }
    Ok(Some(v.clone()))
}

fn check_compression(spec: &AciSpec) -> Result<Compression, SpecError> {
    let level = spec.compression_level;
    let range = |compression: &'static str, min: u32, max: u32, default: u32| -> Result<u32, SpecError> {
        match level {
            None => Ok(default),
            Some(l) if (min..=max).contains(&l) => Ok(l),
            Some(level) => Err(SpecError::CompressionLevel { compression, level, min, max, default }),
        }
    };
    match spec.compression.as_deref().unwrap_or("gzip") {
        "gzip" => Ok(Compression::Gzip { level: range("gzip", 1, 12, DEFAULT_GZIP_LEVEL)? }),
        "xz" => Ok(Compression::Xz { level: range("xz", 0, 9, DEFAULT_XZ_LEVEL)? }),
        "none" => match level {
            Some(level) => Err(SpecError::LevelWithoutCompression { level }),
            None => Ok(Compression::None),
        },
        other => Err(SpecError::Compression { value: other.to_string() }),
    }
}

fn check_labels(spec: &AciSpec, os: &str, arch: &str, version: Option<&str>) -> Result<Vec<Label>, SpecError> {
    let label = |name: &str, value: &str| Label {
        name: name.parse().expect("fixed label names are valid"),
        value: value.to_string(),
    };
    let mut labels = vec![label("os", os), label("arch", arch)];
    if let Some(v) = version {
        labels.push(label("version", v));
    }
    for (name, value) in &spec.labels {
        let fixed = match name.as_str() {
            "os" => Some(("os", "os", Some(os))),
            "arch" => Some(("arch", "arch", Some(arch))),
            "version" => Some(("version", "version", version)),
            _ => None,
        };
        if let Some((label, argument, current)) = fixed {
            if current == Some(value.as_str()) {
                continue; // the same value twice: harmless
            }
            return Err(SpecError::LabelConflict {
                label,
                argument,
                value: value.clone(),
                current: current.unwrap_or("").to_string(),
            });
        }
        if name == "name" {
            return Err(SpecError::LabelNamedName { value: value.clone() });
        }
        let id = name.parse().map_err(|source| SpecError::LabelName { name: name.clone(), source })?;
        labels.push(Label { name: id, value: value.clone() });
    }
    Ok(labels)
}

fn check_env(spec: &AciSpec) -> Result<Vec<EnvVar>, SpecError> {
    let mut out = Vec::new();
    for (name, value) in &spec.env {
        let n = name.parse().map_err(|source| SpecError::EnvName { name: name.clone(), source })?;
        if value.contains('\0') {
            return Err(SpecError::EnvValueNul { name: name.clone(), value: value.clone() });
        }
        out.push(EnvVar { name: n, value: value.clone() });
    }
    Ok(out)
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

fn check_mounts(spec: &AciSpec, thin: &[ThinMount]) -> Result<Vec<MountPoint>, SpecError> {
    // (where it came from, mount point) for the duplicate checks.
    let mut all: Vec<(String, MountPoint)> = Vec::new();
    for (field, map, read_only) in [("mounts", &spec.mounts, false), ("mountsRo", &spec.mounts_ro, true)] {
        for (name, path) in map {
            let n: AcName = name.parse().map_err(|source| SpecError::MountName {
                field,
                name: name.clone(),
                suggestion: AcName::map_from(name).map(|n| n.to_string()),
                source,
            })?;
            let p: AbsPath =
                path.parse().map_err(|source| SpecError::MountPath { field, name: name.clone(), source })?;
            if p.as_str() == "/" {
                return Err(SpecError::MountAtRoot { field, name: name.clone() });
            }
            all.push((format!("{field}.{name}"), MountPoint { name: n, path: p, read_only }));
        }
    }
    for tm in thin {
        let name: AcName = format!("nix-{}", tm.hash).parse().map_err(|source| SpecError::ThinMountName {
            hash: tm.hash.clone(),
            path: tm.path.clone(),
            source,
        })?;
        let path: AbsPath =
            tm.path.parse().map_err(|source| SpecError::ThinMountPath { path: tm.path.clone(), source })?;
        if path.as_str() == "/" {
            return Err(SpecError::ThinMountAtRoot);
        }
        all.push((format!("the thin mount of {}", tm.path), MountPoint { name, path, read_only: true }));
    }
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    let mut paths: BTreeMap<&str, &str> = BTreeMap::new();
    for (origin, m) in &all {
        if let Some(first) = names.insert(m.name.as_str(), origin) {
            return Err(SpecError::DuplicateMountName {
                name: m.name.to_string(),
                first: first.to_string(),
                second: origin.clone(),
            });
        }
        if let Some(first) = paths.insert(m.path.as_str(), origin) {
            return Err(SpecError::DuplicateMountPath {
                path: m.path.to_string(),
                first: first.to_string(),
                second: origin.clone(),
            });
        }
    }
    Ok(all.into_iter().map(|(_, m)| m).collect())
}

/// Sorted entries of a JSON object (Nix writes attrsets sorted, but be explicit).
fn sorted(obj: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = obj.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn check_port(at: &str, name: &str, obj: &serde_json::Map<String, Value>, skip_name: bool) -> Result<Port, SpecError> {
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
    let protocol = match proto_v.as_str() {
        Some(p) if PORT_PROTOCOLS.contains(&p) => p.to_string(),
        _ => return Err(field_err("protocol", proto_v, "\"tcp\" or \"udp\"")),
    };
    let port_v = obj.get("port").unwrap_or(&missing);
    let port = port_v
        .as_u64()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| field_err("port", port_v, "an integer from 1 to 65535"))?;
    let count = match obj.get("count") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|c| *c >= 1 && *c <= 65535)
            .ok_or_else(|| field_err("count", v, "an integer from 1 to 65535"))?,
    };
    if port + count > 65536 {
        return Err(SpecError::PortRange { at: at.to_string(), port, count });
    }
    let socket_activated = match obj.get("socketActivated") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(field_err("socketActivated", v, "true or false")),
    };
    Ok(Port { name: n, protocol, port: port as u16, count: count as u32, socket_activated })
}

fn check_ports(value: Option<&Value>) -> Result<Vec<Port>, SpecError> {
    let mut ports = Vec::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("ports[{i}]");
                let obj =
                    item.as_object().ok_or_else(|| SpecError::PortEntry { at: at.clone(), value: compact(item) })?;
                let name_v = obj.get("name").unwrap_or(&Value::Null);
                let name = name_v.as_str().ok_or_else(|| SpecError::PortField {
                    at: at.clone(),
                    field: "name",
                    value: compact(name_v),
                    expected: "a port name such as \"http\"",
                })?;
                ports.push(check_port(&at, name, obj, false)?);
            }
        }
        Some(Value::Object(map)) => {
            for (name, item) in sorted(map) {
                let at = format!("ports.{name}");
                let obj =
                    item.as_object().ok_or_else(|| SpecError::PortEntry { at: at.clone(), value: compact(item) })?;
                ports.push(check_port(&at, name, obj, true)?);
            }
        }
        Some(other) => return Err(SpecError::PortsShape { value: compact(other) }),
    }
    let mut seen = BTreeSet::new();
    for p in &ports {
        if !seen.insert(p.name.as_str()) {
            return Err(SpecError::DuplicatePort { name: p.name.to_string() });
        }
    }
    Ok(ports)
}

fn check_isolators(value: Option<&Value>) -> Result<Vec<Isolator>, SpecError> {
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
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (name, v) in sorted(map) {
                let at = format!("isolators.{name}");
                out.push(
                    Isolator::from_name_value(name, Some(v)).map_err(|source| SpecError::Isolator { at, source })?,
                );
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
                out.push(
                    Isolator::from_name_value(name, obj.get("value"))
                        .map_err(|source| SpecError::Isolator { at, source })?,
                );
            }
        }
        other => return Err(SpecError::IsolatorsShape { value: compact(other) }),
    }
    let mut seen = BTreeSet::new();
    for i in &out {
        if !seen.insert(i.name()) {
            return Err(SpecError::DuplicateIsolator { name: i.name().to_string() });
        }
    }
    for (first, second) in super::CONFLICTING_ISOLATORS {
        if seen.contains(first) && seen.contains(second) {
            return Err(SpecError::ConflictingIsolators { first: first.to_string(), second: second.to_string() });
        }
    }
    Ok(out)
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
    Exec::new(args).map_err(|source| SpecError::EventHandlerExec {
        at: at.to_string(),
        value: compact(v),
        source: Box::new(source),
    })
}

fn check_event_handlers(value: Option<&Value>) -> Result<Vec<EventHandler>, SpecError> {
    let mut out = Vec::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, v) in sorted(map) {
                let at = format!("eventHandlers.{name}");
                out.push(EventHandler { name: event_name(&at, name)?, exec: event_exec(&at, v)? });
            }
            out.sort_by_key(|h| h.name); // pre-start before post-stop
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
                out.push(EventHandler {
                    name: event_name(&at, name)?,
                    exec: event_exec(&format!("{at}.exec"), exec_v)?,
                });
            }
        }
        Some(other) => return Err(SpecError::EventHandlersShape { value: compact(other) }),
    }
    let mut seen = BTreeSet::new();
    for h in &out {
        if !seen.insert(h.name) {
            return Err(SpecError::DuplicateEventHandler { name: h.name.as_str().to_string() });
        }
    }
    Ok(out)
}

fn check_annotations(spec: &AciSpec) -> Result<Vec<Annotation>, SpecError> {
    let mut map: BTreeMap<AcIdentifier, String> = BTreeMap::new();
    for (name, value) in &spec.annotations {
        let id: AcIdentifier =
            name.parse().map_err(|source| SpecError::AnnotationName { name: name.clone(), source })?;
        match name.as_str() {
            "created" => {
                value.parse::<Timestamp>().map_err(|source| SpecError::Created { source })?;
            }
            "homepage" | "documentation" => {
                value.parse::<HttpUrl>().map_err(|source| SpecError::AnnotationUrl { name: name.clone(), source })?;
            }
            _ => {}
        }
        map.insert(id, value.clone());
    }
    map.entry("created".parse().expect("valid")).or_insert_with(|| DEFAULT_CREATED.to_string());
    Ok(map.into_iter().map(|(name, value)| Annotation { name, value }).collect())
}

/// `<last '/'-component of name>-<version>-<os>-<arch>.aci`, with [`NO_VERSION`]
/// when there is no version: the name appc discovery and docs/result-layout.md use.
pub fn image_file_name(name: &AcIdentifier, version: Option<&str>, os: &str, arch: &str) -> String {
    format!("{}-{}-{os}-{arch}.aci", name.last_component(), version.unwrap_or(NO_VERSION))
}

/// Turns the user's arguments into a manifest, a file name, a compression and
/// the signing choice, refusing anything appc.md §3 does not allow.
///
/// - Name: an explicit `name` must already be a valid AC Identifier (the error
///   suggests a valid form); otherwise `defaultName` (from the package's Nix name)
///   is mapped by [`AcIdentifier::map_from`].
/// - Labels: `os` and `arch` from the Nix system ([`os_arch_of_system`]) unless
///   the `os`/`arch` arguments override them; then `version` if given; then the
///   user's labels sorted by name.
/// - File name: `<last '/'-component of name>-<version>-<os>-<arch>.aci`, with
///   `latest` as version when none is given.
/// - Mount points: `mounts` (read-write) then `mountsRo` (read-only), each sorted
///   by name, then one read-only `nix-<hash>` per thin mount.
/// - Annotations: the user's, sorted by name, with `created` =
///   `1970-01-01T00:00:01Z` unless given.
pub fn from_spec(spec: &AciSpec, ctx: &SpecContext) -> Result<Resolved, SpecError> {
    let name = check_name(spec)?;
    let from_system = os_arch_of_system(ctx.system);
    let os = match (&spec.os, from_system) {
        (Some(os), _) => os.clone(),
        (None, Some((os, _))) => os.to_string(),
        (None, None) => return Err(SpecError::UnknownSystem { system: ctx.system.to_string() }),
    };
    let arch = match (&spec.arch, from_system) {
        (Some(arch), _) => arch.clone(),
        (None, Some((_, arch))) => arch.to_string(),
        (None, None) => return Err(SpecError::UnknownSystem { system: ctx.system.to_string() }),
    };
    if !is_valid_os_arch(&os, &arch) {
        let suggestion = arch_suggestion(&os, &arch);
        return Err(SpecError::InvalidOsArch { os, arch, suggestion });
    }
    let version = check_version(spec.version.as_ref())?;
    let labels = check_labels(spec, &os, &arch, version.as_deref())?;
    let file_name = image_file_name(&name, version.as_deref(), &os, &arch);
    if let Some(nix) = &spec.file_name {
        if *nix != file_name {
            return Err(SpecError::FileNameMismatch { nix: nix.clone(), ours: file_name });
        }
    }
    let exec = check_exec(spec.exec.as_ref())?;
    let user = spec.user.clone().unwrap_or_else(|| "0".to_string());
    let group = spec.group.clone().unwrap_or_else(|| "0".to_string());
    for (field, v) in [("user", &user), ("group", &group)] {
        if v.is_empty() {
            return Err(SpecError::EmptyUserGroup { field });
        }
    }
    let working_directory = spec
        .working_directory
        .as_ref()
        .map(|w| w.parse::<AbsPath>())
        .transpose()
        .map_err(|source| SpecError::WorkingDirectory { source })?;
    let app = App {
        exec,
        user,
        group,
        supplementary_gids: check_gids(spec)?,
        event_handlers: check_event_handlers(spec.event_handlers.as_ref())?,
        working_directory,
        environment: check_env(spec)?,
        isolators: check_isolators(spec.isolators.as_ref())?,
        mount_points: check_mounts(spec, ctx.thin_mounts)?,
        ports: check_ports(spec.ports.as_ref())?,
        user_annotations: BTreeMap::new(),
        user_labels: BTreeMap::new(),
    };
    let manifest = ImageManifest {
        ac_kind: ImageManifestKind,
        ac_version: AcVersion::current(),
        name,
        labels,
        app: Some(app),
        dependencies: Vec::new(),
        path_whitelist: Vec::new(),
        annotations: check_annotations(spec)?,
    };
    let compression = check_compression(spec)?;
    manifest.validate()?;
    Ok(Resolved { manifest, file_name, compression, sign: spec.sign })
}
