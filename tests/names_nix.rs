//! One table for Nix and Rust: `nix/names.nix` and `src/nix/names.rs` both read
//! `src/names.json`, and must give the same answers. One `nix-instantiate
//! --eval` computes every Nix answer for a table of inputs; each is compared
//! with names.rs.
//!
//! Without `nix-instantiate` on PATH the test is skipped, unless
//! `NIX2ACI_REQUIRE_TOOLS=1` says the tools must be there.

use std::path::Path;
use std::process::Command;

use mkaci::image::manifest::AcIdentifier;
use mkaci::nix::names;
use serde_json::{json, Value};

/// `s` as a Nix double-quoted string literal.
fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs `nix-instantiate --eval --strict --json --expr EXPR`; `None` if the
/// program is missing (and missing tools are allowed).
fn nix_eval(expr: &str) -> Option<Value> {
    let out = match Command::new("nix-instantiate").args(["--eval", "--strict", "--json", "--expr", expr]).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("NIX2ACI_REQUIRE_TOOLS").as_deref() == Ok("1") {
                panic!("nix-instantiate not found, and NIX2ACI_REQUIRE_TOOLS=1 requires it");
            }
            println!("skipped: nix-instantiate not found");
            return None;
        }
        Err(e) => panic!("cannot run nix-instantiate: {e}"),
    };
    assert!(
        out.status.success(),
        "nix-instantiate failed ({}): {}\nexpression: {expr}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("nix-instantiate --json prints JSON"))
}

/// The inputs: every system of names.json plus unknown ones, tricky names,
/// arch spellings per os, file names.
fn inputs() -> Value {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table: Value = serde_json::from_slice(&std::fs::read(repo.join("src/names.json")).unwrap()).unwrap();
    let mut systems: Vec<String> = table["systems"].as_object().unwrap().keys().cloned().collect();
    systems
        .extend(["aarch64-darwin", "riscv64-linux", "x86_64-windows", "", "x86_64-Linux", "linux"].map(String::from));
    let names = [
        "busybox",
        "_GNU+Linux  Tool!",
        "X~~Y//z--",
        "Py._Lib",
        "gtk+3",
        "libstdc++",
        "",
        "+++",
        "Ünïcode",
        "ÄÖÜ",
        "Firefox-Bin",
        "My App!",
        "python3.11-Django",
        "__init__",
        "-._~/",
        "a-.b",
        "!!!",
        "tab\there",
        "quote\"and\\backslash",
        "dollar${x}",
        "日本語-tool",
        "emoji🙂name",
        "UPPER/Case.Path",
    ];
    let mut arches = Vec::new();
    for os in ["linux", "freebsd", "darwin", "windows"] {
        for arch in [
            "amd64", "x86_64", "x86-64", "x64", "i386", "i686", "386", "x86", "arm64", "aarch64", "arm", "armhf",
            "armv6", "ppc64el", "s390x", "riscv64", "",
        ] {
            arches.push(json!({"os": os, "arch": arch}));
        }
    }
    let files = [
        ("busybox", Some("1.36.1"), "linux", "amd64"),
        ("busybox", None, "linux", "amd64"),
        ("a/b/c", None, "linux", "aarch64"),
        ("a/b/c", Some("2.0-rc1"), "darwin", "x86_64"),
        ("example.com/tools/bb", Some("1.0"), "freebsd", "i386"),
        ("x", Some("1+build.5"), "linux", "s390x"),
    ]
    .map(|(name, version, os, arch)| json!({"name": name, "version": version, "os": os, "arch": arch}));
    json!({"systems": systems, "names": names, "arches": arches, "files": files})
}

#[test]
fn nix_and_rust_agree_on_names() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let names_nix = repo.join("nix/names.nix");
    let input = inputs();
    let expr = format!(
        r#"let n = import (/. + {path}); i = builtins.fromJSON {json}; in {{
  systems = map n.osArchOfSystem i.systems;
  names = map n.mapName i.names;
  arches = map (p: n.normaliseArch p.os p.arch) i.arches;
  files = map n.fileName i.files;
  ociPlatforms = map n.ociPlatformOfSystem i.systems;
  ociLayouts = map n.ociLayoutName i.files;
  ociIndexes = map (f: n.ociIndexName {{ inherit (f) name version; }}) i.files;
}}"#,
        path = nix_string(&names_nix.display().to_string()),
        json = nix_string(&input.to_string()),
    );
    let Some(nix) = nix_eval(&expr) else { return };
    let mut mismatches = Vec::new();
    let mut check = |what: &str, input: &Value, nix: &Value, rust: Value| {
        if *nix != rust {
            mismatches.push(format!("{what} {input}: nix {nix}, rust {rust}"));
        }
    };

    for (system, got) in input["systems"].as_array().unwrap().iter().zip(nix["systems"].as_array().unwrap()) {
        let rust = match names::os_arch_of_system(system.as_str().unwrap()) {
            Some((os, arch)) => json!({"os": os, "arch": arch}),
            None => Value::Null,
        };
        check("osArchOfSystem", system, got, rust);
    }
    for (name, got) in input["names"].as_array().unwrap().iter().zip(nix["names"].as_array().unwrap()) {
        check("mapName", name, got, json!(names::map_name(name.as_str().unwrap()).unwrap_or_default()));
    }
    for (pair, got) in input["arches"].as_array().unwrap().iter().zip(nix["arches"].as_array().unwrap()) {
        let (os, arch) = (pair["os"].as_str().unwrap(), pair["arch"].as_str().unwrap());
        let rust = if names::is_valid_os_arch(os, arch) {
            arch.to_string()
        } else {
            names::arch_suggestion(os, arch).unwrap_or_else(|| arch.to_string())
        };
        check("normaliseArch", pair, got, json!(rust));
    }
    let files = input["files"].as_array().unwrap();
    let indexes = nix["ociIndexes"].as_array().unwrap();
    for (((f, aci), oci), index) in
        files.iter().zip(nix["files"].as_array().unwrap()).zip(nix["ociLayouts"].as_array().unwrap()).zip(indexes)
    {
        let name: AcIdentifier = f["name"].as_str().unwrap().parse().unwrap();
        let base = mkaci::result::ImageBase::new(
            &name,
            f["version"].as_str(),
            f["os"].as_str().unwrap(),
            f["arch"].as_str().unwrap(),
        );
        check("fileName", f, aci, json!(base.aci().to_string()));
        check("ociLayoutName", f, oci, json!(base.oci_layout().to_string()));
        let multi = mkaci::result::ImageBase::multi_arch(&name, f["version"].as_str());
        check("ociIndexName", f, index, json!(multi.oci_layout().to_string()));
    }
    for (system, got) in input["systems"].as_array().unwrap().iter().zip(nix["ociPlatforms"].as_array().unwrap()) {
        let rust = match names::oci_platform_of_system(system.as_str().unwrap()) {
            Some(p) => match &p.variant {
                Some(v) => json!({"os": p.os, "architecture": p.architecture, "variant": v}),
                None => json!({"os": p.os, "architecture": p.architecture}),
            },
            None => Value::Null,
        };
        check("ociPlatformOfSystem", system, got, rust);
    }

    for key in ["systems", "names", "arches", "files"] {
        assert_eq!(input[key].as_array().unwrap().len(), nix[key].as_array().unwrap().len(), "{key}");
    }
    // The OCI answers are per system and per file name input too.
    assert_eq!(input["systems"].as_array().unwrap().len(), nix["ociPlatforms"].as_array().unwrap().len());
    assert_eq!(input["files"].as_array().unwrap().len(), nix["ociLayouts"].as_array().unwrap().len());
    assert_eq!(input["files"].as_array().unwrap().len(), indexes.len());
    assert!(mismatches.is_empty(), "nix/names.nix and src/nix/names.rs disagree:\n{}", mismatches.join("\n"));
}

/// The escaping used to hand the inputs to Nix.
#[test]
fn nix_string_escapes() {
    assert_eq!(nix_string(r#"a"b\c${d}"#), r#""a\"b\\c\${d}""#);
    assert_eq!(nix_string("x\ny"), r#""x\ny""#);
}
