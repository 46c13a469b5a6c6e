//! The one table of names that `nix/mkACI.nix` and mkaci share, `src/names.json`:
//! Nix system -> appc os/arch, the allowed appc os/arch pairs, arch spellings
//! that mean an appc arch, the default-name mapping and the image file name rule.
//!
//! Nix reads the file with `builtins.fromJSON`; here it is compiled in with
//! `include_str!` and parsed once, on first use. `tests/names_nix.rs` checks that
//! both languages give the same answers. The os/arch pairs are those of the appc
//! label rules (<https://github.com/appc/spec/blob/master/spec/aci.md#image-manifest-schema>,
//! `os` and `arch` labels); `docs/appc.md` explains why they matter to rkt.

use std::sync::LazyLock;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The parsed `src/names.json`. The maps keep the file's order, so messages
/// list the pairs as the file does (linux first).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Names {
    #[allow(dead_code)]
    about: String,
    systems: Ordered<OsArch>,
    oci_platforms: Ordered<OciPlatform>,
    valid_os_arch: Ordered<Vec<String>>,
    arch_aliases: Ordered<Ordered<String>>,
    name_mapping: NameMapping,
    file_name: FileName,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OsArch {
    os: String,
    arch: String,
}

/// An OCI platform as the image config and index spell it (Go's `GOOS` and
/// `GOARCH`: `amd64`, `arm64`, `386`, ...; not appc's `aarch64`, `i386`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OciPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameMapping {
    lowercase: bool,
    substitutions: Ordered<String>,
    keep: String,
    separators: String,
    replacement: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileName {
    no_version: String,
    aci_extension: String,
    oci_extension: String,
}

/// A JSON object as its entries in file order.
#[derive(Debug)]
struct Ordered<V>(Vec<(String, V)>);

impl<V> Ordered<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V_(std::marker::PhantomData))
    }
}

/// The table, parsed on first use. `names.json` is part of the source, so a
/// parse failure is a bug caught by the unit tests below.
static NAMES: LazyLock<Names> =
    LazyLock::new(|| serde_json::from_str(include_str!("../names.json")).expect("src/names.json matches names.rs"));

/// The appc `(os, arch)` of a Nix system, e.g. `x86_64-linux` -> `linux`/`amd64`;
/// `None` for a system the table does not know.
pub fn os_arch_of_system(system: &str) -> Option<(&'static str, &'static str)> {
    let names: &'static Names = &NAMES;
    names.systems.get(system).map(|oa| (oa.os.as_str(), oa.arch.as_str()))
}

/// The OCI platform of a Nix system, e.g. `aarch64-linux` -> `linux`/`arm64`;
/// `None` for a system the table does not know.
pub fn oci_platform_of_system(system: &str) -> Option<&'static OciPlatform> {
    let names: &'static Names = &NAMES;
    names.oci_platforms.get(system)
}

/// Whether `os`/`arch` is an allowed appc pair.
pub fn is_valid_os_arch(os: &str, arch: &str) -> bool {
    NAMES.valid_os_arch.get(os).is_some_and(|archs| archs.iter().any(|a| a == arch))
}

/// The allowed pairs as `linux/amd64, linux/i386, ...`, for messages.
pub fn valid_os_arch_list() -> String {
    let mut out = Vec::new();
    for (os, archs) in &NAMES.valid_os_arch.0 {
        for arch in archs {
            out.push(format!("{os}/{arch}"));
        }
    }
    out.join(", ")
}

/// The appc arch another spelling stands for on `os` (`x86_64` -> `amd64` on
/// linux), only if that gives an allowed pair; for messages and for Nix's
/// normalisation of the `arch` argument.
pub fn arch_suggestion(os: &str, arch: &str) -> Option<String> {
    let guess = NAMES.arch_aliases.get(os)?.get(arch)?;
    is_valid_os_arch(os, guess).then(|| guess.clone())
}

/// The default-name mapping, `None` when nothing is left:
/// 1. ASCII letters are lowercased (if the table says so);
/// 2. each character with a substitution (`+` -> `plus`) is replaced by it;
/// 3. every other character outside `keep` and `separators` (any non-ASCII
///    character included) becomes `replacement`;
/// 4. a run of separators is collapsed to its first character;
/// 5. separators at the start and at the end are dropped.
pub fn map_name(raw: &str) -> Option<String> {
    let m = &NAMES.name_mapping;
    let is_sep = |c: char| m.separators.contains(c);
    let mut mapped = String::with_capacity(raw.len());
    for ch in raw.chars() {
        let c = if m.lowercase { ch.to_ascii_lowercase() } else { ch };
        let mut buf = [0u8; 4];
        if let Some(sub) = m.substitutions.get(c.encode_utf8(&mut buf)) {
            mapped.push_str(sub);
        } else if m.keep.contains(c) || is_sep(c) {
            mapped.push(c);
        } else {
            mapped.push_str(&m.replacement);
        }
    }
    let mut out = String::with_capacity(mapped.len());
    let mut prev_sep = true; // drops leading separators
    for c in mapped.chars() {
        if is_sep(c) {
            if !prev_sep {
                out.push(c);
            }
            prev_sep = true;
        } else {
            out.push(c);
            prev_sep = false;
        }
    }
    while out.chars().next_back().is_some_and(is_sep) {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// Why `value`, a version, os or arch, cannot be a part of a file name
/// ([`image_base_name`]): a `/` would make the name a path, a control
/// character a name no shell line or listing shows as it is. `None` when it
/// can. Checked wherever a manifest or a result index is read, so that every
/// name made from them is a plain file name.
pub fn name_part_problem(value: &str) -> Option<&'static str> {
    if value.contains('/') {
        Some("it contains '/'")
    } else if value.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// The version part of a file name when the image has no version (`latest`).
pub fn no_version() -> &'static str {
    &NAMES.file_name.no_version
}

/// `<last '/'-component of the image name>-<version or noVersion>-<os>-<arch>`,
/// e.g. `busybox-1.36.1-linux-amd64`: the base of every file name of an image
/// (the pattern appc discovery fills in, see `docs/result-layout.md`).
pub fn image_base_name(last_component: &str, version: Option<&str>, os: &str, arch: &str) -> String {
    let version = version.unwrap_or(&NAMES.file_name.no_version);
    format!("{last_component}-{version}-{os}-{arch}")
}

/// `<last '/'-component of the image name>-<version or noVersion>`, e.g.
/// `busybox-1.36.1`: the base of the files of one name and version for
/// every platform (`mkMultiArch`'s OCI image index layout).
pub fn multi_arch_base_name(last_component: &str, version: Option<&str>) -> String {
    let version = version.unwrap_or(&NAMES.file_name.no_version);
    format!("{last_component}-{version}")
}

/// The image file for a base name: `<base><aciExtension>`, e.g.
/// `busybox-1.36.1-linux-amd64.aci`.
pub fn aci_file_name(base: &str) -> String {
    format!("{base}{}", NAMES.file_name.aci_extension)
}

/// The OCI image layout directory for a base name: `<base><ociExtension>`,
/// e.g. `busybox-1.36.1-linux-amd64.oci` (the base made with the OCI
/// platform's os and architecture).
pub fn oci_layout_name(base: &str) -> String {
    format!("{base}{}", NAMES.file_name.oci_extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_is_consistent() {
        let n: &Names = &NAMES;
        assert_eq!(n.systems.0.len(), 12);
        // Every system maps to an allowed pair, every alias key is an os of the table.
        for (system, oa) in &n.systems.0 {
            assert!(is_valid_os_arch(&oa.os, &oa.arch), "{system}");
        }
        for (os, _) in &n.arch_aliases.0 {
            assert!(n.valid_os_arch.get(os).is_some(), "{os}");
        }
        // Substitution keys are single characters (map_name replaces characters).
        for (k, _) in &n.name_mapping.substitutions.0 {
            assert_eq!(k.chars().count(), 1, "{k:?}");
        }
        assert!(n.name_mapping.separators.contains(n.name_mapping.replacement.as_str()));
    }

    #[test]
    fn os_arch_of_system_table() {
        let cases = [
            ("x86_64-linux", Some(("linux", "amd64"))),
            ("i686-linux", Some(("linux", "i386"))),
            ("aarch64-linux", Some(("linux", "aarch64"))),
            ("armv6l-linux", Some(("linux", "armv6l"))),
            ("armv7l-linux", Some(("linux", "armv7l"))),
            ("powerpc64-linux", Some(("linux", "ppc64"))),
            ("powerpc64le-linux", Some(("linux", "ppc64le"))),
            ("s390x-linux", Some(("linux", "s390x"))),
            ("x86_64-freebsd", Some(("freebsd", "amd64"))),
            ("i686-freebsd", Some(("freebsd", "i386"))),
            ("x86_64-darwin", Some(("darwin", "x86_64"))),
            ("i686-darwin", Some(("darwin", "i386"))),
            ("aarch64-darwin", None),
            ("riscv64-linux", None),
            ("", None),
            ("x86_64-Linux", None),
        ];
        for (system, want) in cases {
            assert_eq!(os_arch_of_system(system), want, "{system}");
        }
    }

    #[test]
    fn os_arch_pairs_table() {
        let cases = [
            ("linux", "amd64", true),
            ("linux", "aarch64_be", true),
            ("linux", "armv7b", true),
            ("linux", "x86_64", false),
            ("linux", "arm", false),
            ("freebsd", "arm", true),
            ("freebsd", "aarch64", false),
            ("darwin", "x86_64", true),
            ("darwin", "amd64", false),
            ("windows", "amd64", false),
            ("", "", false),
        ];
        for (os, arch, want) in cases {
            assert_eq!(is_valid_os_arch(os, arch), want, "{os}/{arch}");
        }
        let list = valid_os_arch_list();
        assert!(list.starts_with("linux/amd64, linux/i386, "), "{list}");
        assert!(list.ends_with("darwin/x86_64, darwin/i386"), "{list}");
        assert_eq!(list.split(", ").count(), 15);
    }

    #[test]
    fn arch_suggestion_table() {
        let cases = [
            ("linux", "x86_64", Some("amd64")),
            ("linux", "arm64", Some("aarch64")),
            ("linux", "arm", Some("armv7l")),
            ("linux", "armhf", Some("armv7l")),
            ("linux", "i686", Some("i386")),
            ("linux", "ppc64el", Some("ppc64le")),
            ("freebsd", "x64", Some("amd64")),
            ("freebsd", "arm64", None),
            ("darwin", "amd64", Some("x86_64")),
            ("darwin", "x86", Some("i386")),
            ("darwin", "arm64", None),
            ("windows", "x86_64", None),
            ("linux", "amd64", None),
        ];
        for (os, arch, want) in cases {
            assert_eq!(arch_suggestion(os, arch).as_deref(), want, "{os}/{arch}");
        }
    }

    #[test]
    fn map_name_table() {
        let cases = [
            ("busybox", Some("busybox")),
            ("Firefox-Bin", Some("firefox-bin")),
            ("gtk+3", Some("gtkplus3")),
            ("libstdc++", Some("libstdcplusplus")),
            ("My App!", Some("my-app")),
            ("python3.11-Django", Some("python3.11-django")),
            ("__init__", Some("init")),
            ("_GNU+Linux  Tool!", Some("gnupluslinux-tool")),
            ("X~~Y//z--", Some("x~y/z")),
            ("Py._Lib", Some("py.lib")),
            ("a-.b", Some("a-b")),
            ("Ünïcode", Some("n-code")),
            ("+++", Some("plusplusplus")),
            ("", None),
            ("!!!", None),
            ("-._~/", None),
            ("ÄÖÜ", None),
        ];
        for (raw, want) in cases {
            // (That each result is a valid AC Identifier is tested with
            // `AcIdentifier::map_from`, which parses it.)
            assert_eq!(map_name(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn image_file_name_table() {
        let cases = [
            ("busybox", Some("1.36.1"), "linux", "amd64", "busybox-1.36.1-linux-amd64.aci"),
            ("busybox", None, "linux", "amd64", "busybox-latest-linux-amd64.aci"),
            ("bb", Some("1.0"), "linux", "aarch64", "bb-1.0-linux-aarch64.aci"),
            ("c", None, "darwin", "x86_64", "c-latest-darwin-x86_64.aci"),
            ("app", Some("2-rc1"), "freebsd", "i386", "app-2-rc1-freebsd-i386.aci"),
        ];
        for (name, version, os, arch, want) in cases {
            assert_eq!(aci_file_name(&image_base_name(name, version, os, arch)), want);
        }
        assert_eq!(no_version(), "latest");
        assert_eq!(oci_layout_name(&image_base_name("bb", None, "linux", "arm64")), "bb-latest-linux-arm64.oci");
        assert_eq!(oci_layout_name(&multi_arch_base_name("busybox", Some("1.35.0"))), "busybox-1.35.0.oci");
        assert_eq!(oci_layout_name(&multi_arch_base_name("bb", None)), "bb-latest.oci");
    }

    #[test]
    fn oci_platform_table() {
        let p =
            |s: &str| oci_platform_of_system(s).map(|p| (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()));
        assert_eq!(p("x86_64-linux"), Some(("linux", "amd64", None)));
        assert_eq!(p("aarch64-linux"), Some(("linux", "arm64", None)));
        assert_eq!(p("i686-linux"), Some(("linux", "386", None)));
        assert_eq!(p("armv7l-linux"), Some(("linux", "arm", Some("v7"))));
        assert_eq!(p("x86_64-darwin"), Some(("darwin", "amd64", None)));
        assert_eq!(p("mips-linux"), None);
        // Every appc system has an OCI platform with the same os.
        for (system, oa) in &NAMES.systems.0 {
            assert_eq!(oci_platform_of_system(system).map(|p| p.os.as_str()), Some(oa.os.as_str()), "{system}");
        }
    }
}
