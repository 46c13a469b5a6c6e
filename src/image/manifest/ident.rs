//! The small value types of the appc schema
//! (<https://github.com/appc/spec/blob/master/spec/types.md>, plus the resource
//! quantities of <https://github.com/appc/spec/blob/master/spec/ace.md#isolators>), each parsed
//! once by one validator that `FromStr`, `TryFrom<String>` and serde's
//! `Deserialize` all share. After parsing, a value is valid for good.
//!
//! The patterns are enforced in full, which is stricter than actool: actool
//! checks only the character set and the first and last characters of an AC
//! Identifier, so it lets `a//b` and `a..b` through (`docs/appc.md` lists where
//! we are stricter).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements `FromStr`, `TryFrom<String>`, `Deserialize`, `Serialize`,
/// `Display`, `AsRef<str>` and `as_str` for a `struct T(String)` with a
/// `fn validate(&str) -> Result<(), E>`.
macro_rules! string_newtype {
    ($ty:ident, $err:ty) => {
        impl $ty {
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::validate(s)?;
                Ok($ty(s.to_string()))
            }
        }
        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::validate(&s)?;
                Ok($ty(s))
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $ty::try_from(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Checks `^[a-z0-9]+([S][a-z0-9]+)*$` where `S` is the separator set; returns
/// the failing rule as `(kind, char, pos)`.
fn check_separated(value: &str, is_sep: fn(u8) -> bool) -> Result<(), (SepFault, char, usize)> {
    let bytes = value.as_bytes();
    for (pos, ch) in value.char_indices() {
        let b = ch as u32;
        let ok = b < 128 && (is_lower_alnum(b as u8) || is_sep(b as u8));
        if !ok {
            return Err((SepFault::Char, ch, pos));
        }
    }
    if let Some(&first) = bytes.first() {
        if is_sep(first) {
            return Err((SepFault::Start, first as char, 0));
        }
    }
    if let Some(&last) = bytes.last() {
        if is_sep(last) {
            return Err((SepFault::End, last as char, bytes.len() - 1));
        }
    }
    for pos in 1..bytes.len() {
        if is_sep(bytes[pos]) && is_sep(bytes[pos - 1]) {
            return Err((SepFault::Double, bytes[pos] as char, pos));
        }
    }
    Ok(())
}

enum SepFault {
    Char,
    Start,
    End,
    Double,
}

/// Why a string is not an [`AcIdentifier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcIdentifierError {
    #[error("an AC Identifier cannot be empty")]
    Empty,
    #[error(
        "{value:?} has {ch:?} at position {pos}; an AC Identifier allows only a-z, 0-9 and the separators - . _ ~ /"
    )]
    InvalidChar { value: String, ch: char, pos: usize },
    #[error("{value:?} starts with {ch:?}; an AC Identifier must start with a-z or 0-9")]
    BadStart { value: String, ch: char },
    #[error("{value:?} ends with {ch:?}; an AC Identifier must end with a-z or 0-9")]
    BadEnd { value: String, ch: char },
    #[error("{value:?} has two separators in a row at position {pos}; separators - . _ ~ / must stand between letters or digits")]
    DoubleSeparator { value: String, pos: usize },
}

/// An AC Identifier: `^[a-z0-9]+([-._~/][a-z0-9]+)*$` (appc `types.md`).
/// Image names, label names, annotation names and isolator names are AC Identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcIdentifier(String);

impl AcIdentifier {
    fn is_sep(b: u8) -> bool {
        matches!(b, b'-' | b'.' | b'_' | b'~' | b'/')
    }

    fn validate(value: &str) -> Result<(), AcIdentifierError> {
        if value.is_empty() {
            return Err(AcIdentifierError::Empty);
        }
        let v = || value.to_string();
        check_separated(value, Self::is_sep).map_err(|(fault, ch, pos)| match fault {
            SepFault::Char => AcIdentifierError::InvalidChar { value: v(), ch, pos },
            SepFault::Start => AcIdentifierError::BadStart { value: v(), ch },
            SepFault::End => AcIdentifierError::BadEnd { value: v(), ch },
            SepFault::Double => AcIdentifierError::DoubleSeparator { value: v(), pos },
        })
    }

    /// The part after the last `/`, e.g. `busybox` for `example.com/busybox`.
    pub fn last_component(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Maps any string to a valid AC Identifier, or `None` if nothing is left:
    /// the default-name mapping of `src/names.json`, see [`crate::nix::names::map_name`]
    /// (lowercase, `+` -> `plus`, other characters outside `a-z 0-9 - . _ ~ /`
    /// -> `-`, runs of separators collapsed to their first, separators trimmed).
    ///
    /// Examples: `Firefox-Bin` -> `firefox-bin`, `My App!` -> `my-app`,
    /// `gtk+3` -> `gtkplus3`, `python3.11-Django` -> `python3.11-django`,
    /// `__init__` -> `init`.
    pub fn map_from(raw: &str) -> Option<AcIdentifier> {
        crate::nix::names::map_name(raw)?.parse().ok()
    }
}
string_newtype!(AcIdentifier, AcIdentifierError);

/// Why a string is not an [`AcName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcNameError {
    #[error("an AC Name cannot be empty")]
    Empty,
    #[error("{value:?} has {ch:?} at position {pos}; an AC Name allows only a-z, 0-9 and -")]
    InvalidChar { value: String, ch: char, pos: usize },
    #[error("{value:?} starts with '-'; an AC Name must start with a-z or 0-9")]
    BadStart { value: String },
    #[error("{value:?} ends with '-'; an AC Name must end with a-z or 0-9")]
    BadEnd { value: String },
    #[error("{value:?} has \"--\" at position {pos}; an AC Name allows only single dashes between letters or digits")]
    DoubleDash { value: String, pos: usize },
}

/// An AC Name: `^[a-z0-9]+(-[a-z0-9]+)*$` (appc `types.md`). Mount point and
/// port names are AC Names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcName(String);

impl AcName {
    fn validate(value: &str) -> Result<(), AcNameError> {
        if value.is_empty() {
            return Err(AcNameError::Empty);
        }
        let v = || value.to_string();
        check_separated(value, |b| b == b'-').map_err(|(fault, ch, pos)| match fault {
            SepFault::Char => AcNameError::InvalidChar { value: v(), ch, pos },
            SepFault::Start => AcNameError::BadStart { value: v() },
            SepFault::End => AcNameError::BadEnd { value: v() },
            SepFault::Double => AcNameError::DoubleDash { value: v(), pos: pos - 1 },
        })
    }

    /// Maps any string to an AC Name in the spirit of [`AcIdentifier::map_from`]:
    /// lowercase, `+` -> `plus`, anything else outside `a-z 0-9` -> `-`, runs of `-`
    /// collapsed, `-` trimmed at both ends. Used only to suggest a fix.
    pub fn map_from(raw: &str) -> Option<AcName> {
        let id = AcIdentifier::map_from(raw)?;
        let dashed: String = id.as_str().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let collapsed: Vec<&str> = dashed.split('-').filter(|s| !s.is_empty()).collect();
        collapsed.join("-").parse().ok()
    }
}
string_newtype!(AcName, AcNameError);

/// Why a string is not an [`EnvName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvNameError {
    #[error("an environment variable name cannot be empty")]
    Empty,
    #[error("{value:?} starts with {ch:?}; an environment variable name must start with A-Z, a-z or _")]
    BadStart { value: String, ch: char },
    #[error(
        "{value:?} has {ch:?} at position {pos}; an environment variable name allows only A-Z, a-z, 0-9, _, . and -"
    )]
    InvalidChar { value: String, ch: char, pos: usize },
}

/// An environment variable name: `^[A-Za-z_][A-Za-z_0-9.-]*$` (appc `aci.md`,
/// "environment": POSIX names plus `.` and `-`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    fn validate(value: &str) -> Result<(), EnvNameError> {
        let mut chars = value.char_indices();
        let Some((_, first)) = chars.next() else {
            return Err(EnvNameError::Empty);
        };
        if !(first.is_ascii_alphabetic() || first == '_') {
            return Err(EnvNameError::BadStart { value: value.to_string(), ch: first });
        }
        for (pos, ch) in chars {
            if !(ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-')) {
                return Err(EnvNameError::InvalidChar { value: value.to_string(), ch, pos });
            }
        }
        Ok(())
    }
}
string_newtype!(EnvName, EnvNameError);

/// Why a string is not an [`AbsPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbsPathError {
    #[error("the path is empty; give an absolute path such as \"/data\"")]
    Empty,
    #[error("{value:?} is not absolute; it must start with '/'")]
    NotAbsolute { value: String },
    #[error("{value:?} contains a NUL byte")]
    Nul { value: String },
    #[error("{value:?} has an empty component (\"//\" or a trailing '/'); write it as {normal:?}")]
    EmptyComponent { value: String, normal: String },
    #[error("{value:?} has a {component:?} component; write the path without . and ..")]
    DotComponent { value: String, component: String },
}

/// An absolute, normalised path: starts with `/`, no empty, `.` or `..`
/// components, no trailing `/` (except `/` itself), no NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbsPath(String);

impl AbsPath {
    fn validate(value: &str) -> Result<(), AbsPathError> {
        if value.is_empty() {
            return Err(AbsPathError::Empty);
        }
        if !value.starts_with('/') {
            return Err(AbsPathError::NotAbsolute { value: value.to_string() });
        }
        if value.contains('\0') {
            return Err(AbsPathError::Nul { value: value.to_string() });
        }
        if value == "/" {
            return Ok(());
        }
        for component in value[1..].split('/') {
            if component.is_empty() {
                let parts: Vec<&str> = value.split('/').filter(|c| !c.is_empty()).collect();
                return Err(AbsPathError::EmptyComponent {
                    value: value.to_string(),
                    normal: format!("/{}", parts.join("/")),
                });
            }
            if component == "." || component == ".." {
                return Err(AbsPathError::DotComponent { value: value.to_string(), component: component.to_string() });
            }
        }
        Ok(())
    }
}
string_newtype!(AbsPath, AbsPathError);

/// Why a string is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("{value:?} is not an RFC 3339 date-time; write YYYY-MM-DDTHH:MM:SS[.frac] followed by Z or ±HH:MM, e.g. \"1970-01-01T00:00:01Z\"")]
    Syntax { value: String },
    #[error("{value:?} has {field} {found}, outside {min}..={max}")]
    OutOfRange { value: String, field: &'static str, found: u32, min: u32, max: u32 },
}

/// An RFC 3339 `date-time` with an uppercase `T` and a zone (`Z` or `±HH:MM`),
/// as appc's "Timestamps Type" requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(String);

impl Timestamp {
    fn validate(value: &str) -> Result<(), TimestampError> {
        let syntax = || TimestampError::Syntax { value: value.to_string() };
        let b = value.as_bytes();
        let digits = |from: usize, len: usize| -> Result<u32, TimestampError> {
            let s = b.get(from..from + len).ok_or_else(syntax)?;
            if !s.iter().all(u8::is_ascii_digit) {
                return Err(syntax());
            }
            Ok(s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        };
        let lit = |at: usize, c: u8| if b.get(at) == Some(&c) { Ok(()) } else { Err(syntax()) };
        let year = digits(0, 4)?;
        lit(4, b'-')?;
        let month = digits(5, 2)?;
        lit(7, b'-')?;
        let day = digits(8, 2)?;
        lit(10, b'T')?;
        let hour = digits(11, 2)?;
        lit(13, b':')?;
        let minute = digits(14, 2)?;
        lit(16, b':')?;
        let second = digits(17, 2)?;
        let mut at = 19;
        if b.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return Err(syntax());
            }
        }
        let (off_h, off_m) = match b.get(at) {
            Some(b'Z') if at + 1 == b.len() => (0, 0),
            Some(b'+' | b'-') if at + 6 == b.len() => {
                let h = digits(at + 1, 2)?;
                lit(at + 3, b':')?;
                (h, digits(at + 4, 2)?)
            }
            _ => return Err(syntax()),
        };
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let range = |field: &'static str, found: u32, min: u32, max: u32| {
            if (min..=max).contains(&found) {
                Ok(())
            } else {
                Err(TimestampError::OutOfRange { value: value.to_string(), field, found, min, max })
            }
        };
        range("month", month, 1, 12)?;
        range("day", day, 1, days_in_month)?;
        range("hour", hour, 0, 23)?;
        range("minute", minute, 0, 59)?;
        // Go's time.Parse (actool, rkt) refuses leap second 60.
        range("second", second, 0, 59)?;
        range("zone hour", off_h, 0, 23)?;
        range("zone minute", off_m, 0, 59)?;
        Ok(())
    }
}
string_newtype!(Timestamp, TimestampError);

/// Why a string is not an [`HttpUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpUrlError {
    #[error("{value:?} is not an http(s) URL; it must start with http:// or https://")]
    BadScheme { value: String },
    #[error("{value:?} has no host after the scheme")]
    MissingHost { value: String },
    #[error("{value:?} has {ch:?} at position {pos}, not allowed in a URL (percent-encode it)")]
    InvalidChar { value: String, ch: char, pos: usize },
    #[error("{value:?} has an invalid port {port:?}; a port is 1 to 65535")]
    BadPort { value: String, port: String },
}

/// An absolute `http` or `https` URL with a host, as appc requires for the
/// `homepage` and `documentation` annotations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpUrl(String);

impl HttpUrl {
    fn validate(value: &str) -> Result<(), HttpUrlError> {
        let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
        let rest_at = if lower.starts_with("https://") {
            8
        } else if lower.starts_with("http://") {
            7
        } else {
            return Err(HttpUrlError::BadScheme { value: value.to_string() });
        };
        for (pos, ch) in value.char_indices() {
            if ch.is_whitespace()
                || ch.is_control()
                || matches!(ch, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
            {
                return Err(HttpUrlError::InvalidChar { value: value.to_string(), ch, pos });
            }
        }
        let rest = &value[rest_at..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = if host_port.starts_with('[') {
            match host_port.find(']') {
                Some(end) => (&host_port[..=end], host_port[end + 1..].strip_prefix(':')),
                None => return Err(HttpUrlError::MissingHost { value: value.to_string() }),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err(HttpUrlError::MissingHost { value: value.to_string() });
        }
        if !host.starts_with('[') {
            for (i, ch) in host.char_indices() {
                if !(ch.is_alphanumeric() || matches!(ch, '.' | '-' | '_' | '%')) {
                    let pos = rest_at + (authority.len() - host_port.len()) + i;
                    return Err(HttpUrlError::InvalidChar { value: value.to_string(), ch, pos });
                }
            }
        }
        if let Some(p) = port {
            let ok = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && {
                let n: u32 = p.parse().unwrap_or(0);
                (1..=65535).contains(&n)
            };
            if !ok {
                return Err(HttpUrlError::BadPort { value: value.to_string(), port: p.to_string() });
            }
        }
        Ok(())
    }
}
string_newtype!(HttpUrl, HttpUrlError);

/// Why a string is not an [`AcVersion`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcVersionError {
    #[error("acVersion {value:?} is not a version of the form MAJOR.MINOR.PATCH")]
    Syntax { value: String },
    #[error("acVersion {value:?} is not supported; mkaci writes and checks appc 0.8.x up to 0.8.11")]
    Unsupported { value: String },
}

/// The appc schema version: this crate writes `0.8.11` and accepts `0.8.0` to
/// `0.8.11` (appc `types.md`: "not exceeding the version of its greatest compliance").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AcVersion(String);

/// The appc version mkaci writes.
pub const AC_VERSION: &str = "0.8.11";

impl AcVersion {
    fn validate(value: &str) -> Result<(), AcVersionError> {
        let parts: Vec<&str> = value.split('.').collect();
        let numeric =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
        if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
            return Err(AcVersionError::Syntax { value: value.to_string() });
        }
        let patch: u32 = parts[2].parse().unwrap_or(u32::MAX);
        if parts[0] != "0" || parts[1] != "8" || patch > 11 {
            return Err(AcVersionError::Unsupported { value: value.to_string() });
        }
        Ok(())
    }

    /// `0.8.11`.
    pub fn current() -> Self {
        AcVersion(AC_VERSION.to_string())
    }
}
string_newtype!(AcVersion, AcVersionError);

/// Why a string is not a [`Quantity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "quantity {value:?} is not a number with an optional suffix, e.g. \"500m\", \"2\", \"1.5\", \"128Mi\", \"1G\""
    )]
    Syntax { value: String },
    #[error("quantity {value:?} has suffix {suffix:?}; allowed are none, n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>")]
    BadSuffix { value: String, suffix: String },
    #[error("quantity {value:?} is zero; give a positive amount")]
    Zero { value: String },
}

/// A positive resource quantity in the Kubernetes notation appc uses: digits with an
/// optional fraction, then an optional suffix (`n u m k M G T P E`, `Ki .. Ei`, or
/// `e`/`E` and an exponent). Written as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity(String);

impl Quantity {
    fn validate(value: &str) -> Result<(), QuantityError> {
        let b = value.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_end = i;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(QuantityError::Syntax { value: value.to_string() });
            }
        }
        if int_end == 0 {
            return Err(QuantityError::Syntax { value: value.to_string() });
        }
        let number = &value[..i];
        let suffix = &value[i..];
        let ok_suffix = matches!(
            suffix,
            "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
        ) || {
            let exp = suffix.strip_prefix(['e', 'E']).map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
            exp.is_some_and(|e| !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()))
        };
        if !ok_suffix {
            return Err(QuantityError::BadSuffix { value: value.to_string(), suffix: suffix.to_string() });
        }
        if number.bytes().all(|c| c == b'0' || c == b'.') {
            return Err(QuantityError::Zero { value: value.to_string() });
        }
        Ok(())
    }
}
string_newtype!(Quantity, QuantityError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac_identifier_table() {
        use AcIdentifierError::*;
        let ok = [
            "a",
            "0",
            "example.com/app",
            "example.com/user~1/app_v1",
            "a-b.c_d~e/f",
            "sub-domain.example.com/org/product/release",
        ];
        for s in ok {
            assert_eq!(s.parse::<AcIdentifier>().map(|i| i.to_string()), Ok(s.to_string()), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad: &[(&str, AcIdentifierError)] = &[
            ("", Empty),
            ("My_App", InvalidChar { value: v("My_App"), ch: 'M', pos: 0 }),
            ("a b", InvalidChar { value: v("a b"), ch: ' ', pos: 1 }),
            ("a+b", InvalidChar { value: v("a+b"), ch: '+', pos: 1 }),
            ("caf\u{e9}", InvalidChar { value: v("caf\u{e9}"), ch: '\u{e9}', pos: 3 }),
            ("-a", BadStart { value: v("-a"), ch: '-' }),
            ("/a", BadStart { value: v("/a"), ch: '/' }),
            ("a.", BadEnd { value: v("a."), ch: '.' }),
            ("a//b", DoubleSeparator { value: v("a//b"), pos: 2 }),
            ("a..b", DoubleSeparator { value: v("a..b"), pos: 2 }),
            ("a-_b", DoubleSeparator { value: v("a-_b"), pos: 2 }),
            // appc types.md lists this as an example, but its own regex refuses "/~".
            ("example.com/~user/app_v1", DoubleSeparator { value: v("example.com/~user/app_v1"), pos: 12 }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<AcIdentifier>().as_ref(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn ac_identifier_mapping() {
        let table = [
            ("Firefox-Bin", Some("firefox-bin")),
            ("gtk+3", Some("gtkplus3")),
            ("libstdc++", Some("libstdcplusplus")),
            ("My App!", Some("my-app")),
            ("My_App", Some("my_app")),
            ("python3.11-Django", Some("python3.11-django")),
            ("__init__", Some("init")),
            ("a--__b", Some("a-b")),
            ("caf\u{e9}-bar", Some("caf-bar")),
            ("+", Some("plus")),
            ("---", None),
            ("", None),
            ("\u{e9}\u{e9}", None),
        ];
        for (raw, want) in table {
            assert_eq!(AcIdentifier::map_from(raw).as_ref().map(AcIdentifier::as_str), want, "{raw:?}");
        }
    }

    #[test]
    fn ac_name_table() {
        use AcNameError::*;
        for s in ["a", "data", "nix-0123456789abcdfghijklmnpqrsvwxyz", "a-b-c", "8080"] {
            assert!(s.parse::<AcName>().is_ok(), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad: &[(&str, AcNameError)] = &[
            ("", Empty),
            ("a.b", InvalidChar { value: v("a.b"), ch: '.', pos: 1 }),
            ("a_b", InvalidChar { value: v("a_b"), ch: '_', pos: 1 }),
            ("Data", InvalidChar { value: v("Data"), ch: 'D', pos: 0 }),
            ("-a", BadStart { value: v("-a") }),
            ("a-", BadEnd { value: v("a-") }),
            ("a--b", DoubleDash { value: v("a--b"), pos: 1 }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<AcName>().as_ref(), Err(want), "{s:?}");
        }
        assert_eq!(AcName::map_from("My_Data.dir").unwrap().as_str(), "my-data-dir");
    }

    #[test]
    fn env_name_table() {
        use EnvNameError::*;
        for s in ["PATH", "_x", "a.b-c", "LC_ALL"] {
            assert!(s.parse::<EnvName>().is_ok(), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad: &[(&str, EnvNameError)] = &[
            ("", Empty),
            ("1A", BadStart { value: v("1A"), ch: '1' }),
            ("-A", BadStart { value: v("-A"), ch: '-' }),
            ("A=B", InvalidChar { value: v("A=B"), ch: '=', pos: 1 }),
            ("A B", InvalidChar { value: v("A B"), ch: ' ', pos: 1 }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<EnvName>().as_ref(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn abs_path_table() {
        use AbsPathError::*;
        for s in ["/", "/data", "/nix/store/abc-x", "/a/.b/c.."] {
            assert!(s.parse::<AbsPath>().is_ok(), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad: &[(&str, AbsPathError)] = &[
            ("", Empty),
            ("data", NotAbsolute { value: v("data") }),
            ("./x", NotAbsolute { value: v("./x") }),
            ("/a\0b", Nul { value: v("/a\0b") }),
            ("/a//b", EmptyComponent { value: v("/a//b"), normal: v("/a/b") }),
            ("/a/", EmptyComponent { value: v("/a/"), normal: v("/a") }),
            ("/a/../b", DotComponent { value: v("/a/../b"), component: v("..") }),
            ("/a/./b", DotComponent { value: v("/a/./b"), component: v(".") }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<AbsPath>().as_ref(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn timestamp_table() {
        use TimestampError::*;
        let ok = [
            "1970-01-01T00:00:01Z",
            "2014-10-27T19:32:27.67021798Z",
            "2015-05-18T13:49:28.351729952-04:00",
            "2024-02-29T23:59:59+14:00",
        ];
        for s in ok {
            assert!(s.parse::<Timestamp>().is_ok(), "{s}");
        }
        let syn = |s: &str| Syntax { value: s.to_string() };
        let range = |s: &str, field, found, min, max| OutOfRange { value: s.to_string(), field, found, min, max };
        let bad: Vec<(&str, TimestampError)> = vec![
            ("", syn("")),
            ("1970-01-01 00:00:01Z", syn("1970-01-01 00:00:01Z")),
            ("1970-01-01t00:00:01Z", syn("1970-01-01t00:00:01Z")),
            ("1970-01-01T00:00:01", syn("1970-01-01T00:00:01")),
            ("1970-01-01T00:00:01z", syn("1970-01-01T00:00:01z")),
            ("1970-01-01T00:00:01.Z", syn("1970-01-01T00:00:01.Z")),
            ("1970-01-01T00:00:01+0100", syn("1970-01-01T00:00:01+0100")),
            ("1970-1-01T00:00:01Z", syn("1970-1-01T00:00:01Z")),
            ("1970-13-01T00:00:01Z", range("1970-13-01T00:00:01Z", "month", 13, 1, 12)),
            ("2023-02-29T00:00:01Z", range("2023-02-29T00:00:01Z", "day", 29, 1, 28)),
            ("1970-01-01T24:00:00Z", range("1970-01-01T24:00:00Z", "hour", 24, 0, 23)),
            ("1970-01-01T00:00:60Z", range("1970-01-01T00:00:60Z", "second", 60, 0, 59)),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<Timestamp>(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn http_url_table() {
        use HttpUrlError::*;
        for s in [
            "https://example.com",
            "http://example.com:8080/docs?a=b#c",
            "HTTPS://Example.com/",
            "https://[::1]:443/x",
            "https://user@host/",
        ] {
            assert!(s.parse::<HttpUrl>().is_ok(), "{s}");
        }
        let v = |s: &str| s.to_string();
        let bad: &[(&str, HttpUrlError)] = &[
            ("ftp://example.com", BadScheme { value: v("ftp://example.com") }),
            ("example.com", BadScheme { value: v("example.com") }),
            ("https://", MissingHost { value: v("https://") }),
            ("https:///path", MissingHost { value: v("https:///path") }),
            ("https://exa mple.com", InvalidChar { value: v("https://exa mple.com"), ch: ' ', pos: 11 }),
            ("https://a!b/", InvalidChar { value: v("https://a!b/"), ch: '!', pos: 9 }),
            ("https://a:0/", BadPort { value: v("https://a:0/"), port: v("0") }),
            ("https://a:x/", BadPort { value: v("https://a:x/"), port: v("x") }),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<HttpUrl>().as_ref(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn ac_version_table() {
        assert!("0.8.11".parse::<AcVersion>().is_ok());
        assert!("0.8.0".parse::<AcVersion>().is_ok());
        let v = |s: &str| s.to_string();
        assert_eq!("0.8".parse::<AcVersion>(), Err(AcVersionError::Syntax { value: v("0.8") }));
        assert_eq!("0.8.01".parse::<AcVersion>(), Err(AcVersionError::Syntax { value: v("0.8.01") }));
        assert_eq!("0.9.0".parse::<AcVersion>(), Err(AcVersionError::Unsupported { value: v("0.9.0") }));
        assert_eq!("0.8.12".parse::<AcVersion>(), Err(AcVersionError::Unsupported { value: v("0.8.12") }));
    }

    #[test]
    fn serde_uses_the_validator() {
        let r: Result<AcIdentifier, _> = serde_json::from_str("\"a//b\"");
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("two separators in a row"), "{msg}");
        let ok: AcName = serde_json::from_str("\"data\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"data\"");
    }
}
