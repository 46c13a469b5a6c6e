//! Isolators: the 14 names appc 0.8.11 defines, each with its typed value
//! (<https://github.com/appc/spec/blob/master/spec/ace.md#isolators>; Go
//! `schema/types/isolator_*.go` in the appc repository).
//!
//! One table, [`KNOWN_ISOLATORS`], lists every name with the kind of value it
//! takes and the expected-shape text for messages; [`Isolator::from_name_value`]
//! looks the name up there and runs the kind's parser.
//!
//! actool rejects unknown names and crashes on a known name with a missing or
//! null value; we refuse both with a message instead. Values are checked as the
//! spec text says, sometimes stricter than the Go code:
//! - `resource/cpu`, `resource/memory`: `{request?, limit?}` quantities, at least
//!   one given, `default` absent or false;
//! - `resource/block-bandwidth`, `resource/block-iops`, `resource/network-bandwidth`:
//!   `{"default": true, "limit": q}`, no `request`;
//! - capability sets: `{"set": ["CAP_..", ..]}`, not empty;
//! - seccomp sets: `{"set": [..], "errno"?: "EUPPER"}`, not empty;
//! - `os/linux/no-new-privileges`: a boolean;
//! - `os/linux/oom-score-adj`: integer -1000..=1000; `os/linux/cpu-shares`: 2..=262144;
//! - `os/linux/selinux-context`: `{user, role, type, level}`, non-empty, no `:` in
//!   the first three;
//! - `os/unix/sysctl`: an object of string values.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use super::ident::{Quantity, QuantityError};

/// How a known isolator's value is parsed; each kind builds its [`Isolator`]
/// variant with the constructor it holds.
#[derive(Clone, Copy)]
pub enum ValueKind {
    /// `{request?, limit?}`, at least one, `default` absent or false.
    RequestLimit(fn(RequestLimit) -> Isolator),
    /// `{"default": true, "limit": q}`, no `request`.
    DefaultLimit(fn(DefaultLimit) -> Isolator),
    /// `{"set": ["CAP_..", ..]}`, not empty.
    Capabilities(fn(CapabilitySet) -> Isolator),
    /// `{"set": [..], "errno"?: ".."}`, not empty.
    Seccomp(fn(SeccompSet) -> Isolator),
    /// `true` or `false`.
    Bool(fn(bool) -> Isolator),
    /// An integer in `min..=max`.
    Int { min: i64, max: i64, make: fn(i64) -> Isolator },
    /// `{user, role, type, level}`.
    Selinux,
    /// An object of string values.
    Sysctl,
}

impl fmt::Debug for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::RequestLimit(_) => "RequestLimit",
            ValueKind::DefaultLimit(_) => "DefaultLimit",
            ValueKind::Capabilities(_) => "Capabilities",
            ValueKind::Seccomp(_) => "Seccomp",
            ValueKind::Bool(_) => "Bool",
            ValueKind::Int { .. } => "Int",
            ValueKind::Selinux => "Selinux",
            ValueKind::Sysctl => "Sysctl",
        })
    }
}

/// One row of [`KNOWN_ISOLATORS`].
#[derive(Debug, Clone, Copy)]
pub struct KnownIsolator {
    /// The appc name, e.g. `resource/cpu`.
    pub name: &'static str,
    /// What the value looks like, for messages.
    pub expected: &'static str,
    /// How the value is parsed.
    pub kind: ValueKind,
}

const CAPS_SHAPE: &str = r#"an object {"set": ["CAP_NET_BIND_SERVICE", ...]} with a non-empty list of strings"#;
const SECCOMP_SHAPE: &str = r#"an object {"set": ["read", ...], "errno"?: "EPERM"} with a non-empty list of strings"#;

/// The isolators appc 0.8.11 knows: name, expected shape, value kind.
pub const KNOWN_ISOLATORS: [KnownIsolator; 14] = {
    use ValueKind::*;
    const fn row(name: &'static str, expected: &'static str, kind: ValueKind) -> KnownIsolator {
        KnownIsolator { name, expected, kind }
    }
    [
        row(
            "resource/cpu",
            r#"an object {"request"?: "250m", "limit"?: "500m"} with at least one of the two"#,
            RequestLimit(Isolator::ResourceCpu),
        ),
        row(
            "resource/memory",
            r#"an object {"request"?: "1G", "limit"?: "2G"} with at least one of the two"#,
            RequestLimit(Isolator::ResourceMemory),
        ),
        row(
            "resource/block-bandwidth",
            r#"an object {"default": true, "limit": "2M"}"#,
            DefaultLimit(Isolator::ResourceBlockBandwidth),
        ),
        row(
            "resource/block-iops",
            r#"an object {"default": true, "limit": "1000"}"#,
            DefaultLimit(Isolator::ResourceBlockIops),
        ),
        row(
            "resource/network-bandwidth",
            r#"an object {"default": true, "limit": "1G"}"#,
            DefaultLimit(Isolator::ResourceNetworkBandwidth),
        ),
        row("os/linux/capabilities-retain-set", CAPS_SHAPE, Capabilities(Isolator::CapabilitiesRetainSet)),
        row("os/linux/capabilities-remove-set", CAPS_SHAPE, Capabilities(Isolator::CapabilitiesRemoveSet)),
        row("os/linux/no-new-privileges", "true or false", Bool(Isolator::NoNewPrivileges)),
        row("os/linux/seccomp-retain-set", SECCOMP_SHAPE, Seccomp(Isolator::SeccompRetainSet)),
        row("os/linux/seccomp-remove-set", SECCOMP_SHAPE, Seccomp(Isolator::SeccompRemoveSet)),
        row(
            "os/linux/oom-score-adj",
            "an integer from -1000 to 1000",
            Int { min: -1000, max: 1000, make: |i| Isolator::OomScoreAdj(i as i32) },
        ),
        row(
            "os/linux/cpu-shares",
            "an integer from 2 to 262144",
            Int { min: 2, max: 262_144, make: |i| Isolator::CpuShares(i as u32) },
        ),
        row(
            "os/linux/selinux-context",
            r#"an object {"user": "system_u", "role": "system_r", "type": "svirt_lxc_net_t", "level": "s0"}"#,
            Selinux,
        ),
        row("os/unix/sysctl", r#"an object of string values, e.g. {"net.ipv4.tcp_mtu_probing": "1"}"#, Sysctl),
    ]
};

/// The row of a known isolator name.
pub fn known_isolator(name: &str) -> Option<&'static KnownIsolator> {
    KNOWN_ISOLATORS.iter().find(|k| k.name == name)
}

fn known_names() -> String {
    KNOWN_ISOLATORS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// Why an isolator is refused. `name` is the isolator name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolatorError {
    #[error("unknown isolator {name:?}; appc 0.8.11 knows only {}", known_names())]
    UnknownName { name: String },
    #[error("isolator {name:?} has no value (or null); it needs {expected}")]
    MissingValue { name: String, expected: &'static str },
    #[error("isolator {name:?} has value {value}; it needs {expected}")]
    WrongShape { name: String, value: String, expected: &'static str },
    #[error("isolator {name:?} has an unknown key {key:?}; allowed keys are {allowed}")]
    UnknownKey { name: String, key: String, allowed: &'static str },
    #[error("isolator {name:?}: {field}: {reason}")]
    BadQuantity { name: String, field: &'static str, reason: QuantityError },
    #[error("isolator {name:?} needs at least one of \"request\" and \"limit\"")]
    NoRequestOrLimit { name: String },
    #[error("isolator {name:?} has \"default\": {value}; it must be {required}")]
    BadDefault { name: String, value: bool, required: bool },
    #[error("isolator {name:?} does not support \"request\"; give only {{\"default\": true, \"limit\": ...}}")]
    RequestNotSupported { name: String },
    #[error("isolator {name:?} needs a \"limit\"")]
    MissingLimit { name: String },
    #[error("isolator {name:?} has an empty \"set\"; list at least one entry")]
    EmptySet { name: String },
    #[error("isolator {name:?} has capability {value:?}; capabilities are written CAP_ and uppercase letters, digits or _, e.g. \"CAP_NET_BIND_SERVICE\"")]
    BadCapability { name: String, value: String },
    #[error("isolator {name:?} has syscall {value:?}; syscall names are non-empty, without whitespace")]
    BadSyscall { name: String, value: String },
    #[error("isolator {name:?} has errno {value:?}; errno is an uppercase name such as \"EPERM\" (letters A-Z, starting with E) or empty")]
    BadErrno { name: String, value: String },
    #[error("isolator {name:?} has {value}; it must be an integer from {min} to {max}")]
    OutOfRange { name: String, value: String, min: i64, max: i64 },
    #[error("isolator {name:?} has {field} {value:?}; it must be non-empty{}", if *.colon_forbidden { " and without ':'" } else { "" })]
    BadSelinuxField { name: String, field: &'static str, value: String, colon_forbidden: bool },
    #[error("isolator {name:?} has an empty sysctl key")]
    EmptySysctlKey { name: String },
}

/// `{request?, limit?}` for `resource/cpu` and `resource/memory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLimit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Quantity>,
}

/// `{"default": true, "limit": q}` for the block and network resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultLimit {
    pub limit: Quantity,
}

impl Serialize for DefaultLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("default", &true)?;
        m.serialize_entry("limit", &self.limit)?;
        m.end()
    }
}

/// `{"set": [..]}` of capability names, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilitySet {
    pub set: Vec<String>,
}

/// `{"set": [..], "errno"?: ".."}` of syscall names, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompSet {
    pub set: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
}

/// `{user, role, type, level}` of an SELinux context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelinuxContext {
    pub user: String,
    pub role: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub level: String,
}

/// One isolator with its typed, validated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolator {
    ResourceCpu(RequestLimit),
    ResourceMemory(RequestLimit),
    ResourceBlockBandwidth(DefaultLimit),
    ResourceBlockIops(DefaultLimit),
    ResourceNetworkBandwidth(DefaultLimit),
    CapabilitiesRetainSet(CapabilitySet),
    CapabilitiesRemoveSet(CapabilitySet),
    NoNewPrivileges(bool),
    SeccompRetainSet(SeccompSet),
    SeccompRemoveSet(SeccompSet),
    OomScoreAdj(i32),
    CpuShares(u32),
    SelinuxContext(SelinuxContext),
    Sysctl(BTreeMap<String, String>),
}

impl Isolator {
    /// The isolator's appc name, e.g. `resource/cpu`.
    pub fn name(&self) -> &'static str {
        match self {
            Isolator::ResourceCpu(_) => "resource/cpu",
            Isolator::ResourceMemory(_) => "resource/memory",
            Isolator::ResourceBlockBandwidth(_) => "resource/block-bandwidth",
            Isolator::ResourceBlockIops(_) => "resource/block-iops",
            Isolator::ResourceNetworkBandwidth(_) => "resource/network-bandwidth",
            Isolator::CapabilitiesRetainSet(_) => "os/linux/capabilities-retain-set",
            Isolator::CapabilitiesRemoveSet(_) => "os/linux/capabilities-remove-set",
            Isolator::NoNewPrivileges(_) => "os/linux/no-new-privileges",
            Isolator::SeccompRetainSet(_) => "os/linux/seccomp-retain-set",
            Isolator::SeccompRemoveSet(_) => "os/linux/seccomp-remove-set",
            Isolator::OomScoreAdj(_) => "os/linux/oom-score-adj",
            Isolator::CpuShares(_) => "os/linux/cpu-shares",
            Isolator::SelinuxContext(_) => "os/linux/selinux-context",
            Isolator::Sysctl(_) => "os/unix/sysctl",
        }
    }

    /// Parses and checks one isolator from its name and JSON value: looks the
    /// name up in [`KNOWN_ISOLATORS`] and runs its kind's parser. This is the one
    /// validator behind both `Deserialize` and [`crate::image::spec::from_spec`].
    pub fn from_name_value(name: &str, value: Option<&Value>) -> Result<Isolator, IsolatorError> {
        let known = known_isolator(name).ok_or_else(|| IsolatorError::UnknownName { name: name.to_string() })?;
        let value = match value {
            None | Some(Value::Null) => {
                return Err(IsolatorError::MissingValue { name: name.to_string(), expected: known.expected })
            }
            Some(v) => v,
        };
        let p = Parser { name, value, expected: known.expected };
        match known.kind {
            ValueKind::RequestLimit(make) => p.request_limit().map(make),
            ValueKind::DefaultLimit(make) => p.default_limit().map(make),
            ValueKind::Capabilities(make) => p.capabilities().map(make),
            ValueKind::Seccomp(make) => p.seccomp().map(make),
            ValueKind::Bool(make) => value.as_bool().map(make).ok_or_else(|| p.wrong()),
            ValueKind::Int { min, max, make } => p.int_range(min, max).map(make),
            ValueKind::Selinux => p.selinux().map(Isolator::SelinuxContext),
            ValueKind::Sysctl => p.sysctl().map(Isolator::Sysctl),
        }
    }

    fn serialize_value<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            Isolator::ResourceCpu(v) | Isolator::ResourceMemory(v) => m.serialize_entry("value", v),
            Isolator::ResourceBlockBandwidth(v)
            | Isolator::ResourceBlockIops(v)
            | Isolator::ResourceNetworkBandwidth(v) => m.serialize_entry("value", v),
            Isolator::CapabilitiesRetainSet(v) | Isolator::CapabilitiesRemoveSet(v) => m.serialize_entry("value", v),
            Isolator::NoNewPrivileges(b) => m.serialize_entry("value", b),
            Isolator::SeccompRetainSet(v) | Isolator::SeccompRemoveSet(v) => m.serialize_entry("value", v),
            Isolator::OomScoreAdj(i) => m.serialize_entry("value", i),
            Isolator::CpuShares(i) => m.serialize_entry("value", i),
            Isolator::SelinuxContext(v) => m.serialize_entry("value", v),
            Isolator::Sysctl(map) => m.serialize_entry("value", map),
        }
    }
}

/// The value parsers of the [`ValueKind`]s, for one isolator's value.
struct Parser<'a> {
    name: &'a str,
    value: &'a Value,
    expected: &'static str,
}

type Object = serde_json::Map<String, Value>;

impl Parser<'_> {
    fn n(&self) -> String {
        self.name.to_string()
    }

    fn wrong(&self) -> IsolatorError {
        IsolatorError::WrongShape { name: self.n(), value: compact(self.value), expected: self.expected }
    }

    /// The value as an object with only the `allowed` keys (written `"a", "b"`).
    fn object(&self, allowed: &'static str) -> Result<&Object, IsolatorError> {
        let obj = self.value.as_object().ok_or_else(|| self.wrong())?;
        for key in obj.keys() {
            if !allowed.split(", ").any(|k| k.trim_matches('"') == key) {
                return Err(IsolatorError::UnknownKey { name: self.n(), key: key.clone(), allowed });
            }
        }
        Ok(obj)
    }

    fn quantity(&self, obj: &Object, field: &'static str) -> Result<Option<Quantity>, IsolatorError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                s.parse().map(Some).map_err(|reason| IsolatorError::BadQuantity { name: self.n(), field, reason })
            }
            Some(_) => Err(self.wrong()),
        }
    }

    fn default(&self, obj: &Object) -> Result<Option<bool>, IsolatorError> {
        match obj.get("default") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong()),
        }
    }

    fn set(&self, obj: &Object) -> Result<Vec<String>, IsolatorError> {
        let list = obj.get("set").and_then(Value::as_array).ok_or_else(|| self.wrong())?;
        let set: Vec<String> = list
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| self.wrong()))
            .collect::<Result<_, _>>()?;
        if set.is_empty() {
            return Err(IsolatorError::EmptySet { name: self.n() });
        }
        Ok(set)
    }

    fn request_limit(&self) -> Result<RequestLimit, IsolatorError> {
        let obj = self.object(r#""request", "limit", "default""#)?;
        if let Some(true) = self.default(obj)? {
            return Err(IsolatorError::BadDefault { name: self.n(), value: true, required: false });
        }
        let rl = RequestLimit { request: self.quantity(obj, "request")?, limit: self.quantity(obj, "limit")? };
        if rl.request.is_none() && rl.limit.is_none() {
            return Err(IsolatorError::NoRequestOrLimit { name: self.n() });
        }
        Ok(rl)
    }

    fn default_limit(&self) -> Result<DefaultLimit, IsolatorError> {
        let obj = self.object(r#""default", "limit", "request""#)?;
        match self.default(obj)? {
            Some(true) => {}
            other => {
                return Err(IsolatorError::BadDefault { name: self.n(), value: other.unwrap_or(false), required: true })
            }
        }
        if obj.get("request").is_some_and(|v| !v.is_null()) {
            return Err(IsolatorError::RequestNotSupported { name: self.n() });
        }
        let limit = self.quantity(obj, "limit")?.ok_or_else(|| IsolatorError::MissingLimit { name: self.n() })?;
        Ok(DefaultLimit { limit })
    }

    fn capabilities(&self) -> Result<CapabilitySet, IsolatorError> {
        let set = self.set(self.object(r#""set""#)?)?;
        for cap in &set {
            let ok = cap.strip_prefix("CAP_").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
            if !ok {
                return Err(IsolatorError::BadCapability { name: self.n(), value: cap.clone() });
            }
        }
        Ok(CapabilitySet { set })
    }

    fn seccomp(&self) -> Result<SeccompSet, IsolatorError> {
        let obj = self.object(r#""set", "errno""#)?;
        let set = self.set(obj)?;
        for sc in &set {
            if sc.is_empty() || sc.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(IsolatorError::BadSyscall { name: self.n(), value: sc.clone() });
            }
        }
        let errno = match obj.get("errno") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                // Go checks unicode.IsUpper for every rune, so E2BIG is refused there too.
                let ok = s.starts_with('E') && s.bytes().all(|b| b.is_ascii_uppercase());
                if !ok {
                    return Err(IsolatorError::BadErrno { name: self.n(), value: s.clone() });
                }
                Some(s.clone())
            }
            Some(_) => return Err(self.wrong()),
        };
        Ok(SeccompSet { set, errno })
    }

    fn int_range(&self, min: i64, max: i64) -> Result<i64, IsolatorError> {
        let out_of_range = || IsolatorError::OutOfRange { name: self.n(), value: compact(self.value), min, max };
        match self.value.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(i),
            Some(_) => Err(out_of_range()),
            None if self.value.is_number() => Err(out_of_range()),
            None => Err(self.wrong()),
        }
    }

    fn selinux(&self) -> Result<SelinuxContext, IsolatorError> {
        let obj = self.object(r#""user", "role", "type", "level""#)?;
        let field = |f: &'static str, colon_forbidden: bool| -> Result<String, IsolatorError> {
            let s = match obj.get(f) {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(_) => return Err(self.wrong()),
            };
            if s.is_empty() || (colon_forbidden && s.contains(':')) {
                return Err(IsolatorError::BadSelinuxField { name: self.n(), field: f, value: s, colon_forbidden });
            }
            Ok(s)
        };
        Ok(SelinuxContext {
            user: field("user", true)?,
            role: field("role", true)?,
            kind: field("type", true)?,
            level: field("level", false)?,
        })
    }

    fn sysctl(&self) -> Result<BTreeMap<String, String>, IsolatorError> {
        let obj = self.value.as_object().ok_or_else(|| self.wrong())?;
        let mut map = BTreeMap::new();
        for (k, v) in obj {
            if k.is_empty() {
                return Err(IsolatorError::EmptySysctlKey { name: self.n() });
            }
            map.insert(k.clone(), v.as_str().ok_or_else(|| self.wrong())?.to_string());
        }
        Ok(map)
    }
}

/// What the value of a known isolator looks like, for messages; `None` if unknown.
pub fn expected_shape(name: &str) -> Option<&'static str> {
    known_isolator(name).map(|k| k.expected)
}

/// Compact JSON of a value, for messages.
pub(crate) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

impl Serialize for Isolator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.name())?;
        self.serialize_value(&mut m)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Isolator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            name: String,
            #[serde(default)]
            value: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        Isolator::from_name_value(&raw.name, raw.value.as_ref()).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Isolator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(name: &str, v: Value) -> Result<Isolator, IsolatorError> {
        Isolator::from_name_value(name, Some(&v))
    }

    #[test]
    fn quantity_table() {
        for s in ["1", "250m", "1.5", "128Mi", "1G", "2M", "1000", "1e3", "5E-2", "0.3"] {
            assert!(s.parse::<Quantity>().is_ok(), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad = [
            ("", QuantityError::Syntax { value: v("") }),
            ("-1", QuantityError::Syntax { value: v("-1") }),
            (".5", QuantityError::Syntax { value: v(".5") }),
            ("1.", QuantityError::Syntax { value: v("1.") }),
            ("1K", QuantityError::BadSuffix { value: v("1K"), suffix: v("K") }),
            ("1 G", QuantityError::BadSuffix { value: v("1 G"), suffix: v(" G") }),
            ("1GB", QuantityError::BadSuffix { value: v("1GB"), suffix: v("GB") }),
            ("1e", QuantityError::BadSuffix { value: v("1e"), suffix: v("e") }),
            ("0", QuantityError::Zero { value: v("0") }),
            ("0.0m", QuantityError::Zero { value: v("0.0m") }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<Quantity>(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn good_isolators_round_trip() {
        let cases = [
            ("resource/cpu", json!({"request": "250m", "limit": "500m"})),
            ("resource/memory", json!({"limit": "1G"})),
            ("resource/block-bandwidth", json!({"default": true, "limit": "2M"})),
            ("resource/block-iops", json!({"default": true, "limit": "1000"})),
            ("resource/network-bandwidth", json!({"default": true, "limit": "1G"})),
            ("os/linux/capabilities-retain-set", json!({"set": ["CAP_NET_BIND_SERVICE"]})),
            ("os/linux/capabilities-remove-set", json!({"set": ["CAP_SYS_CHROOT", "CAP_MKNOD"]})),
            ("os/linux/no-new-privileges", json!(true)),
            ("os/linux/seccomp-retain-set", json!({"set": ["read", "write"]})),
            ("os/linux/seccomp-remove-set", json!({"set": ["reboot"], "errno": "ENOTSUP"})),
            ("os/linux/oom-score-adj", json!(-1000)),
            ("os/linux/cpu-shares", json!(1024)),
            (
                "os/linux/selinux-context",
                json!({"user": "system_u", "role": "system_r", "type": "dhcpc_t", "level": "s0"}),
            ),
            ("os/unix/sysctl", json!({"net.ipv4.tcp_mtu_probing": "1"})),
        ];
        assert_eq!(cases.len(), KNOWN_ISOLATORS.len());
        for (known, (name, _)) in KNOWN_ISOLATORS.iter().zip(&cases) {
            assert_eq!(known.name, *name, "the table and this list are in the same order");
        }
        for (name, value) in cases {
            let iso = parse(name, value.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(iso.name(), name);
            let ser = serde_json::to_value(&iso).unwrap();
            assert_eq!(ser, json!({"name": name, "value": value}));
            let back: Isolator = serde_json::from_value(ser).unwrap();
            assert_eq!(back, iso);
        }
    }

    #[test]
    fn bad_isolators_table() {
        use IsolatorError::*;
        let n = |s: &str| s.to_string();
        let q = |s: &str| QuantityError::Syntax { value: n(s) };
        let cases: Vec<(&str, Option<Value>, IsolatorError)> = vec![
            ("resource/gpu", Some(json!({})), UnknownName { name: n("resource/gpu") }),
            (
                "resource/cpu",
                None,
                MissingValue { name: n("resource/cpu"), expected: expected_shape("resource/cpu").unwrap() },
            ),
            (
                "resource/cpu",
                Some(Value::Null),
                MissingValue { name: n("resource/cpu"), expected: expected_shape("resource/cpu").unwrap() },
            ),
            (
                "resource/cpu",
                Some(json!("500m")),
                WrongShape {
                    name: n("resource/cpu"),
                    value: n("\"500m\""),
                    expected: expected_shape("resource/cpu").unwrap(),
                },
            ),
            (
                "resource/cpu",
                Some(json!({"max": "1"})),
                UnknownKey { name: n("resource/cpu"), key: n("max"), allowed: r#""request", "limit", "default""# },
            ),
            (
                "resource/cpu",
                Some(json!({"limit": "-1"})),
                BadQuantity { name: n("resource/cpu"), field: "limit", reason: q("-1") },
            ),
            ("resource/memory", Some(json!({})), NoRequestOrLimit { name: n("resource/memory") }),
            (
                "resource/memory",
                Some(json!({"default": true, "limit": "1G"})),
                BadDefault { name: n("resource/memory"), value: true, required: false },
            ),
            (
                "resource/block-iops",
                Some(json!({"limit": "1000"})),
                BadDefault { name: n("resource/block-iops"), value: false, required: true },
            ),
            (
                "resource/block-iops",
                Some(json!({"default": true, "request": "1", "limit": "1000"})),
                RequestNotSupported { name: n("resource/block-iops") },
            ),
            (
                "resource/network-bandwidth",
                Some(json!({"default": true})),
                MissingLimit { name: n("resource/network-bandwidth") },
            ),
            (
                "os/linux/capabilities-retain-set",
                Some(json!({"set": []})),
                EmptySet { name: n("os/linux/capabilities-retain-set") },
            ),
            (
                "os/linux/capabilities-remove-set",
                Some(json!({"set": ["net_admin"]})),
                BadCapability { name: n("os/linux/capabilities-remove-set"), value: n("net_admin") },
            ),
            (
                "os/linux/seccomp-retain-set",
                Some(json!({"set": ["read"], "errno": "eperm"})),
                BadErrno { name: n("os/linux/seccomp-retain-set"), value: n("eperm") },
            ),
            (
                "os/linux/seccomp-remove-set",
                Some(json!({"set": ["a b"]})),
                BadSyscall { name: n("os/linux/seccomp-remove-set"), value: n("a b") },
            ),
            (
                "os/linux/oom-score-adj",
                Some(json!(1001)),
                OutOfRange { name: n("os/linux/oom-score-adj"), value: n("1001"), min: -1000, max: 1000 },
            ),
            (
                "os/linux/oom-score-adj",
                Some(json!(1.5)),
                OutOfRange { name: n("os/linux/oom-score-adj"), value: n("1.5"), min: -1000, max: 1000 },
            ),
            (
                "os/linux/cpu-shares",
                Some(json!(1)),
                OutOfRange { name: n("os/linux/cpu-shares"), value: n("1"), min: 2, max: 262144 },
            ),
            (
                "os/linux/cpu-shares",
                Some(json!("1024")),
                WrongShape {
                    name: n("os/linux/cpu-shares"),
                    value: n("\"1024\""),
                    expected: expected_shape("os/linux/cpu-shares").unwrap(),
                },
            ),
            (
                "os/linux/selinux-context",
                Some(json!({"user": "a:b", "role": "r", "type": "t", "level": "s0"})),
                BadSelinuxField {
                    name: n("os/linux/selinux-context"),
                    field: "user",
                    value: n("a:b"),
                    colon_forbidden: true,
                },
            ),
            (
                "os/linux/selinux-context",
                Some(json!({"user": "u", "role": "r", "type": "t"})),
                BadSelinuxField {
                    name: n("os/linux/selinux-context"),
                    field: "level",
                    value: n(""),
                    colon_forbidden: false,
                },
            ),
            (
                "os/unix/sysctl",
                Some(json!({"a": 1})),
                WrongShape {
                    name: n("os/unix/sysctl"),
                    value: n("{\"a\":1}"),
                    expected: expected_shape("os/unix/sysctl").unwrap(),
                },
            ),
            ("os/unix/sysctl", Some(json!({"": "1"})), EmptySysctlKey { name: n("os/unix/sysctl") }),
            (
                "os/linux/no-new-privileges",
                Some(json!("yes")),
                WrongShape { name: n("os/linux/no-new-privileges"), value: n("\"yes\""), expected: "true or false" },
            ),
        ];
        for (name, value, want) in cases {
            assert_eq!(Isolator::from_name_value(name, value.as_ref()), Err(want), "{name} {value:?}");
        }
    }
}
