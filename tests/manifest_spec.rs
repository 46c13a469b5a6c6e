//! `from_spec`: the user's mkACI arguments -> manifest, file name, compression.
//! Every bad input must name the field, show the value and say the fix.

use mkaci::archive::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_XZ_LEVEL};
use mkaci::nix::attrs::AciSpec;
use std::sync::LazyLock;

use mkaci::image::manifest::ImageManifest;
use mkaci::image::spec::{from_spec, SpecContext, SpecError};
use mkaci::nix::store_path::{StoreDir, StorePath};
use serde_json::{json, Value};

const HASH_A: &str = "0c3v5zcd8pnz3m2d1ijbc3wakhwgxg4y";
const HASH_B: &str = "9w4bs1n4ifhckc2dwm4z8wdi4q0ga0g3";

fn spec(v: Value) -> AciSpec {
    let mut base = json!({"packages": ["/nix/store/0c3v5zcd8pnz3m2d1ijbc3wakhwgxg4y-busybox-1.36.1"]});
    for (k, val) in v.as_object().unwrap() {
        base[k] = val.clone();
    }
    serde_json::from_value(base).expect("spec JSON matches AciSpec")
}

static STORE: LazyLock<StoreDir> = LazyLock::new(StoreDir::default);

fn ctx<'a>(system: &'a str, thin_mounts: &'a [StorePath]) -> SpecContext<'a> {
    SpecContext { system, store: &STORE, thin_mounts }
}

fn store_path(hash: &str, name: &str) -> StorePath {
    StorePath::from_base_name(&format!("{hash}-{name}")).unwrap()
}

fn resolve(v: Value) -> Result<mkaci::image::spec::Resolved, SpecError> {
    from_spec(&spec(v), &ctx("x86_64-linux", &[]))
}

fn minimal() -> Value {
    json!({"defaultName": "busybox", "exec": "/bin/sh"})
}

fn merge(mut a: Value, b: Value) -> Value {
    for (k, v) in b.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

#[test]
fn minimal_spec_gets_defaults() {
    let r = resolve(minimal()).unwrap();
    let m = &r.manifest;
    assert_eq!(m.name.as_str(), "busybox");
    assert_eq!(m.label("os"), Some("linux"));
    assert_eq!(m.label("arch"), Some("amd64"));
    assert_eq!(m.label("version"), None);
    assert_eq!(r.file_name, "busybox-latest-linux-amd64.aci");
    assert_eq!(r.compression, Compression::gzip(DEFAULT_GZIP_LEVEL).unwrap());
    assert!(r.sign);
    let app = m.app.as_ref().unwrap();
    assert_eq!(app.exec.args(), ["/bin/sh"]);
    assert_eq!((app.user.as_str(), app.group.as_str()), ("0", "0"));
    assert_eq!(m.annotation("created"), Some("1970-01-01T00:00:01Z"));
}

#[test]
fn systems_map_to_appc_os_arch() {
    let table = [
        ("x86_64-linux", "linux", "amd64"),
        ("aarch64-linux", "linux", "aarch64"),
        ("i686-linux", "linux", "i386"),
        ("armv7l-linux", "linux", "armv7l"),
        ("armv6l-linux", "linux", "armv6l"),
        ("powerpc64le-linux", "linux", "ppc64le"),
        ("powerpc64-linux", "linux", "ppc64"),
        ("s390x-linux", "linux", "s390x"),
        ("x86_64-darwin", "darwin", "x86_64"),
        ("x86_64-freebsd", "freebsd", "amd64"),
    ];
    for (system, os, arch) in table {
        let r = from_spec(&spec(minimal()), &ctx(system, &[])).unwrap();
        assert_eq!((r.manifest.label("os"), r.manifest.label("arch")), (Some(os), Some(arch)), "{system}");
        assert_eq!(r.file_name, format!("busybox-latest-{os}-{arch}.aci"));
    }
    // Overrides, validated as a pair.
    let r = from_spec(&spec(merge(minimal(), json!({"arch": "armv7b"}))), &ctx("armv7l-linux", &[])).unwrap();
    assert_eq!(r.manifest.label("arch"), Some("armv7b"));
    // An unknown system is fine when both are given.
    let r = from_spec(&spec(merge(minimal(), json!({"os": "linux", "arch": "amd64"}))), &ctx("riscv64-linux", &[]))
        .unwrap();
    assert_eq!(r.file_name, "busybox-latest-linux-amd64.aci");
}

#[test]
fn default_names_are_mapped() {
    let table = [
        ("busybox", "busybox"),
        ("Firefox-Bin", "firefox-bin"),
        ("gtk+3", "gtkplus3"),
        ("libstdc++", "libstdcplusplus"),
        ("My App", "my-app"),
        ("python3.11-Django", "python3.11-django"),
    ];
    for (raw, want) in table {
        let r = resolve(json!({"defaultName": raw, "exec": "/bin/sh"})).unwrap();
        assert_eq!(r.manifest.name.as_str(), want, "{raw}");
    }
    // An explicit name wins over the default one.
    let r =
        resolve(json!({"name": "example.com/tools/bb", "defaultName": "busybox", "exec": "/bin/sh", "version": "1.0"}))
            .unwrap();
    assert_eq!(r.manifest.name.as_str(), "example.com/tools/bb");
    assert_eq!(r.file_name, "bb-1.0-linux-amd64.aci");
}

#[test]
fn shapes_of_exec_ports_isolators_and_handlers() {
    // exec as a string is split on ASCII whitespace.
    let r = resolve(merge(minimal(), json!({"exec": " /bin/sh  -c\techo "}))).unwrap();
    assert_eq!(r.manifest.app.unwrap().exec.args(), ["/bin/sh", "-c", "echo"]);

    let as_list = resolve(merge(
        minimal(),
        json!({
            "ports": [{"name": "http", "protocol": "tcp", "port": 80}, {"name": "dns", "protocol": "udp", "port": 53, "count": 2, "socketActivated": true}],
            "isolators": [{"name": "resource/memory", "value": {"limit": "1G"}}, {"name": "os/linux/no-new-privileges", "value": true}],
            "eventHandlers": [{"name": "pre-start", "exec": "/bin/setup --fast"}, {"name": "post-stop", "exec": ["/bin/cleanup"]}],
        }),
    ))
    .unwrap();
    let as_attrs = resolve(merge(
        minimal(),
        json!({
            "ports": {"http": {"protocol": "tcp", "port": 80}, "dns": {"protocol": "udp", "port": 53, "count": 2, "socketActivated": true}},
            "isolators": "{\"resource/memory\": {\"limit\": \"1G\"}, \"os/linux/no-new-privileges\": true}",
            "eventHandlers": {"post-stop": "/bin/cleanup", "pre-start": ["/bin/setup", "--fast"]},
        }),
    ))
    .unwrap();
    let a = as_list.manifest.app.unwrap();
    let b = as_attrs.manifest.app.unwrap();
    assert_eq!(a.event_handlers, b.event_handlers);
    assert_eq!(a.event_handlers[0].exec.args(), ["/bin/setup", "--fast"]);
    // Lists keep their order; attrsets are sorted by name.
    let names = |ports: &[mkaci::image::manifest::Port]| ports.iter().map(|p| p.name.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&a.ports), ["http", "dns"]);
    assert_eq!(names(&b.ports), ["dns", "http"]);
    assert_eq!(a.ports[0], b.ports[1]);
    assert_eq!(a.ports[1], b.ports[0]);
    assert_eq!(b.ports[0].count, 2);
    assert!(b.ports[0].socket_activated);
    let iso_names = |m: &mkaci::image::manifest::App| m.isolators.iter().map(|i| i.name()).collect::<Vec<_>>();
    assert_eq!(iso_names(&a), ["resource/memory", "os/linux/no-new-privileges"]);
    assert_eq!(iso_names(&b), ["os/linux/no-new-privileges", "resource/memory"]);
}

#[test]
fn mounts_and_thin_mounts() {
    let thin = [store_path(HASH_A, "busybox-1.36.1"), store_path(HASH_B, "hello.txt")];
    let r = from_spec(
        &spec(merge(minimal(), json!({"mounts": {"data": "/var/lib/data"}, "mountsRo": {"config": "/etc/app"}}))),
        &ctx("x86_64-linux", &thin),
    )
    .unwrap();
    let mps = r.manifest.app.unwrap().mount_points;
    let got: Vec<(String, String, bool)> =
        mps.iter().map(|m| (m.name.to_string(), m.path.to_string(), m.read_only)).collect();
    assert_eq!(
        got,
        [
            ("data".into(), "/var/lib/data".into(), false),
            ("config".into(), "/etc/app".into(), true),
            (format!("nix-{HASH_A}"), format!("/nix/store/{HASH_A}-busybox-1.36.1"), true),
            (format!("nix-{HASH_B}"), format!("/nix/store/{HASH_B}-hello.txt"), true),
        ]
    );
    // Another store directory gives other mount paths, the same names.
    let gnu = StoreDir::new("/gnu/store").unwrap();
    let r = from_spec(&spec(minimal()), &SpecContext { system: "x86_64-linux", store: &gnu, thin_mounts: &thin[..1] })
        .unwrap();
    let mp = &r.manifest.app.unwrap().mount_points[0];
    assert_eq!(
        (mp.name.as_str(), mp.path.as_str()),
        (&*format!("nix-{HASH_A}"), &*format!("/gnu/store/{HASH_A}-busybox-1.36.1"))
    );
}

#[test]
fn compression_choices() {
    let c = |extra: Value| resolve(merge(minimal(), extra)).map(|r| r.compression);
    assert_eq!(c(json!({"compression": "xz"})), Ok(Compression::xz(DEFAULT_XZ_LEVEL).unwrap()));
    assert_eq!(c(json!({"compression": "xz", "compressionLevel": 0})), Ok(Compression::xz(0).unwrap()));
    assert_eq!(c(json!({"compression": "gzip", "compressionLevel": 12})), Ok(Compression::gzip(12).unwrap()));
    assert_eq!(c(json!({"compression": "zstd"})), Ok(Compression::zstd(mkaci::archive::DEFAULT_ZSTD_LEVEL).unwrap()));
    assert_eq!(c(json!({"compression": "zstd", "compressionLevel": 22})), Ok(Compression::zstd(22).unwrap()));
    assert_eq!(c(json!({"compression": "none"})), Ok(Compression::None));
    assert!(!resolve(merge(minimal(), json!({"sign": false}))).unwrap().sign);
}

#[test]
fn user_labels_and_annotations() {
    let r = resolve(merge(
        minimal(),
        json!({
            "version": "1.36.1",
            "labels": {"channel": "stable", "os": "linux"},
            "annotations": {"homepage": "https://busybox.net", "created": "2024-01-02T03:04:05Z", "authors": "Erik"},
        }),
    ))
    .unwrap();
    let labels: Vec<(&str, &str)> = r.manifest.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
    assert_eq!(labels, [("os", "linux"), ("arch", "amd64"), ("version", "1.36.1"), ("channel", "stable")]);
    let ann: Vec<&str> = r.manifest.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(ann, ["authors", "created", "homepage"]);
    assert_eq!(r.manifest.annotation("created"), Some("2024-01-02T03:04:05Z"));
}

/// Each bad input, the variant it must give, and the pieces its message must show:
/// the field (mkACI argument), the bad value, and the fix.
#[test]
fn bad_inputs_name_field_value_and_fix() {
    let thin = [store_path(HASH_A, "x")];
    #[rustfmt::skip]
    let cases: Vec<(Value, &str, &[&str])> = vec![
        (json!({"exec": "/bin/sh"}), "NoName", &["name:", "set name = \"example.com/app\""]),
        (json!({"name": "My_App", "exec": "/bin/sh"}), "InvalidName", &["name: \"My_App\" is not a valid AC Identifier (lowercase a-z, 0-9, separated by single - . _ ~ /)", "use name = \"my_app\""]),
        (json!({"name": "example.com//app", "exec": "/bin/sh"}), "InvalidName", &["name:", "\"example.com//app\"", "use name = \"example.com/app\""]),
        (json!({"name": "gtk+3", "exec": "/bin/sh"}), "InvalidName", &["name:", "\"gtk+3\"", "use name = \"gtkplus3\""]),
        (json!({"name": "---", "exec": "/bin/sh"}), "InvalidName", &["name:", "\"---\"", "such as \"example.com/app\""]),
        (json!({"defaultName": "+++"[..0].to_string() + "!!!", "exec": "/bin/sh"}), "UnmappableDefaultName", &["name:", "\"!!!\"", "set name ="]),
        (merge(minimal(), json!({"arch": "x86_64"})), "InvalidOsArch", &["os/arch:", "\"linux\"/\"x86_64\"", "did you mean arch = \"amd64\"", "linux/amd64"]),
        (merge(minimal(), json!({"arch": "arm64"})), "InvalidOsArch", &["os/arch:", "\"arm64\"", "arch = \"aarch64\""]),
        (merge(minimal(), json!({"os": "windows"})), "InvalidOsArch", &["os/arch:", "\"windows\"", "allowed pairs: linux/amd64"]),
        (merge(minimal(), json!({"labels": {"os": "freebsd"}})), "LabelConflict", &["labels.os:", "\"freebsd\"", "set os = \"freebsd\" instead of a label"]),
        (merge(minimal(), json!({"labels": {"arch": "i386"}})), "LabelConflict", &["labels.arch:", "\"i386\"", "set arch = \"i386\""]),
        (merge(minimal(), json!({"version": "1.0", "labels": {"version": "2.0"}})), "LabelConflict", &["labels.version:", "\"2.0\"", "\"1.0\"", "set version = \"2.0\""]),
        (merge(minimal(), json!({"labels": {"version": "2.0"}})), "LabelConflict", &["labels.version:", "\"2.0\"", "set version = \"2.0\""]),
        (merge(minimal(), json!({"labels": {"name": "x"}})), "LabelNamedName", &["labels.name:", "\"x\"", "`name` argument"]),
        (merge(minimal(), json!({"labels": {"Channel": "x"}})), "LabelName", &["labels.Channel:", "\"Channel\"", "lowercase a-z"]),
        (merge(minimal(), json!({"version": "1.0/beta"})), "BadVersion", &["version:", "\"1.0/beta\"", "'/'", "e.g. \"1.2.3\""]),
        (merge(minimal(), json!({"version": "1.0", "fileName": "busybox-1.0-x86_64.aci"})), "FileNameMismatch", &["fileName:", "\"busybox-1.0-x86_64.aci\"", "\"busybox-1.0-linux-amd64.aci\"", "disagree"]),
        (json!({"defaultName": "busybox"}), "ExecMissing", &["exec:", "set exec = \"/bin/program --flag\""]),
        (merge(minimal(), json!({"exec": 42})), "ExecShape", &["exec:", "42", "set exec ="]),
        (merge(minimal(), json!({"exec": ["/bin/sh", 1]})), "ExecShape", &["exec:", "[\"/bin/sh\",1]", "list"]),
        (merge(minimal(), json!({"exec": ""})), "Exec", &["exec:", "\"\"", "exec is empty", "[\"/bin/sh\"]"]),
        (merge(minimal(), json!({"exec": "sh -c true"})), "Exec", &["exec:", "\"sh -c true\"", "not absolute", "\"/bin/sh\""]),
        (merge(minimal(), json!({"exec": ["bin/busybox", "sh"]})), "Exec", &["exec:", "bin/busybox", "full path, e.g. \"/bin/busybox\""]),
        (merge(minimal(), json!({"user": ""})), "EmptyUserGroup", &["user:", "is empty", "user = \"0\""]),
        (merge(minimal(), json!({"group": ""})), "EmptyUserGroup", &["group:", "group = \"0\""]),
        (merge(minimal(), json!({"workingDirectory": "srv"})), "WorkingDirectory", &["workingDirectory:", "\"srv\"", "must start with '/'"]),
        (merge(minimal(), json!({"workingDirectory": "/srv/../etc"})), "WorkingDirectory", &["workingDirectory:", "\"/srv/../etc\"", "without . and .."]),
        (merge(minimal(), json!({"env": {"1PATH": "x"}})), "EnvName", &["env.1PATH:", "\"1PATH\"", "must start with A-Z, a-z or _"]),
        (merge(minimal(), json!({"env": {"A=B": "x"}})), "EnvName", &["env.A=B:", "'='", "allows only"]),
        (merge(minimal(), json!({"supplementaryGIDs": [10, -1]})), "SupplementaryGid", &["supplementaryGIDs[1]:", "-1", "integers from 0 to 4294967295"]),
        (merge(minimal(), json!({"supplementaryGIDs": ["wheel"]})), "SupplementaryGid", &["supplementaryGIDs[0]:", "\"wheel\"", "integers"]),
        (merge(minimal(), json!({"mountsRo": {"Data_Dir": "/data"}})), "MountName", &["mountsRo.Data_Dir:", "\"Data_Dir\"", "AC Name", "use \"data-dir\""]),
        (merge(minimal(), json!({"mounts": {"data": "data"}})), "MountPath", &["mounts.data:", "\"data\"", "must start with '/'"]),
        (merge(minimal(), json!({"mounts": {"data": "/data//x"}})), "MountPath", &["mounts.data:", "\"/data//x\"", "write it as \"/data/x\""]),
        (merge(minimal(), json!({"mounts": {"root": "/"}})), "MountAtRoot", &["mounts.root:", "\"/\"", "\"/data\""]),
        (merge(minimal(), json!({"mounts": {"data": "/a"}, "mountsRo": {"data": "/b"}})), "DuplicateMountName", &["mountsRo.data:", "\"data\"", "mounts.data", "its own name"]),
        (merge(minimal(), json!({"mounts": {"a": "/data"}, "mountsRo": {"b": "/data"}})), "DuplicateMountPath", &["mountsRo.b:", "\"/data\"", "mounts.a", "its own path"]),
        (merge(minimal(), json!({"ports": "80"})), "PortsShape", &["ports:", "\"80\"", "a list of { name, protocol, port"]),
        (merge(minimal(), json!({"ports": {"http": 80}})), "PortEntry", &["ports.http:", "80", "port = 80"]),
        (merge(minimal(), json!({"ports": {"http": {"protocol": "tcp", "port": 0}}})), "PortField", &["ports.http.port:", "0", "an integer from 1 to 65535"]),
        (merge(minimal(), json!({"ports": [{"name": "http", "protocol": "tcp", "port": 70000}]})), "PortField", &["ports[0].port:", "70000", "1 to 65535"]),
        (merge(minimal(), json!({"ports": {"http": {"protocol": "TCP", "port": 80}}})), "PortField", &["ports.http.protocol:", "\"TCP\"", "\"tcp\" or \"udp\""]),
        (merge(minimal(), json!({"ports": {"http": {"protocol": "tcp", "port": 80, "count": 0}}})), "PortField", &["ports.http.count:", "0", "from 1"]),
        (merge(minimal(), json!({"ports": {"ftp": {"protocol": "tcp", "port": 65000, "count": 1000}}})), "PortRange", &["ports.ftp:", "65000", "1000", "lower port or count"]),
        (merge(minimal(), json!({"ports": {"HTTP": {"protocol": "tcp", "port": 80}}})), "PortName", &["ports.HTTP.name:", "\"HTTP\"", "use \"http\""]),
        (merge(minimal(), json!({"ports": {"http": {"protocol": "tcp", "port": 80, "host": 8080}}})), "PortUnknownKey", &["ports.http.host:", "unknown key", "name, protocol, port, count, socketActivated"]),
        (merge(minimal(), json!({"ports": [{"name": "a", "protocol": "tcp", "port": 80}, {"name": "a", "protocol": "udp", "port": 80}]})), "DuplicatePort", &["ports[1]:", "\"a\"", "ports[0]", "its own name"]),
        (merge(minimal(), json!({"isolators": 5})), "IsolatorsShape", &["isolators:", "5", "an attrset name -> value"]),
        (merge(minimal(), json!({"isolators": "{resource/cpu"})), "IsolatorsJson", &["isolators:", "\"{resource/cpu\"", "not valid JSON", "an attrset name -> value"]),
        (merge(minimal(), json!({"isolators": {"resource/gpu": {"limit": "1"}}})), "Isolator", &["isolators.resource/gpu:", "\"resource/gpu\"", "appc 0.8.11 knows only resource/cpu"]),
        (merge(minimal(), json!({"isolators": {"resource/cpu": null}})), "Isolator", &["isolators.resource/cpu:", "no value", "\"limit\"?: \"500m\""]),
        (merge(minimal(), json!({"isolators": {"resource/memory": {"limit": "1GB"}}})), "Isolator", &["isolators.resource/memory:", "\"1GB\"", "allowed are none, n u m k M G T P E, Ki Mi Gi"]),
        (merge(minimal(), json!({"isolators": {"os/linux/capabilities-retain-set": {"set": []}}})), "Isolator", &["isolators.os/linux/capabilities-retain-set:", "empty \"set\"", "at least one"]),
        (merge(minimal(), json!({"isolators": {"os/linux/oom-score-adj": -2000}})), "Isolator", &["isolators.os/linux/oom-score-adj:", "-2000", "from -1000 to 1000"]),
        (merge(minimal(), json!({"isolators": {"os/linux/cpu-shares": 1}})), "Isolator", &["isolators.os/linux/cpu-shares:", "has 1;", "from 2 to 262144"]),
        (merge(minimal(), json!({"isolators": [{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}, {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}}]})), "ConflictingIsolators", &["isolators[1]:", "\"os/linux/seccomp-remove-set\"", "\"os/linux/seccomp-retain-set\"", "isolators[0]", "keep one"]),
        (merge(minimal(), json!({"isolators": [{"name": "os/linux/cpu-shares", "value": 2}, {"name": "os/linux/cpu-shares", "value": 4}]})), "DuplicateIsolator", &["isolators[1]:", "\"os/linux/cpu-shares\"", "isolators[0]", "once"]),
        (merge(minimal(), json!({"isolators": [{"resource/cpu": {"limit": "1"}}]})), "IsolatorEntry", &["isolators[0]:", "{\"resource/cpu\":{\"limit\":\"1\"}}", "name = \"resource/memory\""]),
        (merge(minimal(), json!({"eventHandlers": {"on-start": "/bin/x"}})), "EventHandlerName", &["eventHandlers.on-start:", "\"on-start\"", "\"pre-start\" or \"post-stop\""]),
        (merge(minimal(), json!({"eventHandlers": {"pre-start": "setup"}})), "EventHandlerExec", &["eventHandlers.pre-start:", "\"setup\"", "\"/bin/setup\""]),
        (merge(minimal(), json!({"eventHandlers": {"pre-start": {"exec": "/x"}}})), "EventHandlerExecShape", &["eventHandlers.pre-start:", "{\"exec\":\"/x\"}", "a list of strings"]),
        (merge(minimal(), json!({"eventHandlers": [{"name": "post-stop", "exec": "/a"}, {"name": "post-stop", "exec": "/b"}]})), "DuplicateEventHandler", &["eventHandlers[1]:", "\"post-stop\"", "eventHandlers[0]", "once"]),
        (merge(minimal(), json!({"annotations": {"Maintainer": "me"}})), "AnnotationName", &["annotations.Maintainer:", "\"Maintainer\"", "lowercase a-z"]),
        (merge(minimal(), json!({"annotations": {"nix2aci.org/closure-sha256": "sha256-00"}})), "ReservedAnnotation", &["annotations.nix2aci.org/closure-sha256:", "is reserved", "closure SBOM", "remove it"]),
        (merge(minimal(), json!({"annotations": {"created": "2024-01-02 03:04:05"}})), "Created", &["annotations.created:", "\"2024-01-02 03:04:05\"", "\"1970-01-01T00:00:01Z\""]),
        (merge(minimal(), json!({"annotations": {"homepage": "busybox.net"}})), "AnnotationUrl", &["annotations.homepage:", "\"busybox.net\"", "http:// or https://"]),
        (merge(minimal(), json!({"annotations": {"documentation": "https://exa mple.com"}})), "AnnotationUrl", &["annotations.documentation:", "\"https://exa mple.com\"", "percent-encode"]),
        (merge(minimal(), json!({"compression": "brotli"})), "Compression", &["compression:", "\"brotli\"", "\"gzip\" (the default), \"xz\", \"zstd\" (OCI layers only) or \"none\""]),
        (merge(minimal(), json!({"compression": "zstd", "compressionLevel": 23})), "CompressionLevel", &["compressionLevel:", "23", "1..=22 for zstd"]),
        (merge(minimal(), json!({"compression": "zstd", "compressionLevel": 0})), "CompressionLevel", &["compressionLevel:", "0", "1..=22 for zstd", "default 3"]),
        (merge(minimal(), json!({"compressionLevel": 13})), "CompressionLevel", &["compressionLevel:", "13", "1..=12 for gzip"]),
        (merge(minimal(), json!({"compression": "xz", "compressionLevel": 10})), "CompressionLevel", &["compressionLevel:", "10", "0..=9 for xz"]),
        (merge(minimal(), json!({"compression": "none", "compressionLevel": 3})), "LevelWithoutCompression", &["compressionLevel:", "3", "remove compressionLevel"]),
    ];
    assert!(cases.len() >= 25);
    for (i, (input, variant, needles)) in cases.iter().enumerate() {
        let err = resolve(input.clone()).expect_err(&format!("case {i} ({variant}) must fail: {input}"));
        let debug = format!("{err:?}");
        assert!(
            debug.starts_with(variant) && debug[variant.len()..].starts_with([' ', '(']) || debug == *variant,
            "case {i}: expected {variant}, got {debug}"
        );
        let msg = err.to_string();
        for needle in *needles {
            assert!(msg.contains(needle), "case {i} ({variant}): message {msg:?} lacks {needle:?}");
        }
        // The reason is said once: a chained source adds to the message, never repeats it.
        if let Some(source) = std::error::Error::source(&err) {
            assert!(!msg.contains(&source.to_string()), "case {i} ({variant}): {msg:?} repeats its source");
        }
        // Rules are told in mkACI terms, never as the manifest's JSON path.
        assert!(!msg.contains("app.") && !msg.contains("labels["), "case {i} ({variant}): {msg:?}");
    }

    // Context-dependent ones.
    let err = from_spec(&spec(minimal()), &ctx("riscv64-linux", &[])).unwrap_err();
    assert!(matches!(err, SpecError::UnknownSystem { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with("system: \"riscv64-linux\""), "{msg}");
    assert!(msg.contains("set os and arch explicitly"), "{msg}");

    let err = from_spec(
        &spec(merge(minimal(), json!({"mounts": {"data": format!("/nix/store/{HASH_A}-x")}}))),
        &ctx("x86_64-linux", &thin),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SpecError::DuplicateMountPath {
            path: format!("/nix/store/{HASH_A}-x"),
            first: "mounts.data".into(),
            second: format!("the thin mount of /nix/store/{HASH_A}-x"),
        }
    );
    let err = from_spec(
        &spec(merge(minimal(), json!({"mountsRo": {format!("nix-{HASH_A}"): "/data"}}))),
        &ctx("x86_64-linux", &thin),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SpecError::DuplicateMountName {
            name: format!("nix-{HASH_A}"),
            first: format!("mountsRo.nix-{HASH_A}"),
            second: format!("the thin mount of /nix/store/{HASH_A}-x"),
        }
    );
    assert!(err.to_string().starts_with(&format!("the thin mount of /nix/store/{HASH_A}-x: ")), "{err}");
}

/// The manifest's rules, found by `ImageManifest::validate`, come back as the
/// exact variants with the mkACI argument each element came from.
#[test]
fn manifest_rules_name_the_argument() {
    let err = |v: Value| resolve(merge(minimal(), v)).unwrap_err();
    assert_eq!(
        err(json!({"mounts": {"a": "/x", "root": "/"}})),
        SpecError::MountAtRoot { argument: "mounts.root".into() }
    );
    assert_eq!(
        err(json!({"mountsRo": {"b": "/x"}, "mounts": {"a": "/x"}})),
        SpecError::DuplicateMountPath { path: "/x".into(), first: "mounts.a".into(), second: "mountsRo.b".into() }
    );
    assert_eq!(
        err(json!({"ports": {"b": {"protocol": "tcp", "port": 1}, "a": {"protocol": "sctp", "port": 2}}})),
        SpecError::PortField {
            at: "ports.a".into(),
            field: "protocol",
            value: "\"sctp\"".into(),
            expected: "\"tcp\" or \"udp\""
        }
    );
    assert_eq!(
        err(
            json!({"ports": [{"name": "a", "protocol": "tcp", "port": 1}, {"name": "b", "protocol": "udp", "port": 65535, "count": 2}]})
        ),
        SpecError::PortRange { at: "ports[1]".into(), port: 65535, count: 2 }
    );
    assert_eq!(err(json!({"group": ""})), SpecError::EmptyUserGroup { field: "group".into() });
    assert_eq!(
        err(json!({"env": {"A": "1", "B": "x\u{0}y"}})),
        SpecError::EnvValueNul { name: "B".into(), value: "x\u{0}y".into() }
    );
    assert_eq!(
        err(
            json!({"isolators": {"os/linux/capabilities-retain-set": {"set": ["CAP_CHOWN"]}, "os/linux/capabilities-remove-set": {"set": ["CAP_MKNOD"]}}})
        ),
        SpecError::ConflictingIsolators {
            first: "os/linux/capabilities-remove-set".into(),
            second: "os/linux/capabilities-retain-set".into(),
            first_argument: "isolators.os/linux/capabilities-remove-set".into(),
            second_argument: "isolators.os/linux/capabilities-retain-set".into(),
        }
    );
    assert_eq!(
        err(
            json!({"eventHandlers": [{"name": "post-stop", "exec": "/a"}, {"name": "pre-start", "exec": "/b"}, {"name": "post-stop", "exec": "/c"}]})
        ),
        SpecError::DuplicateEventHandler {
            name: "post-stop".into(),
            first: "eventHandlers[0]".into(),
            second: "eventHandlers[2]".into()
        }
    );
    assert_eq!(
        err(json!({"labels": {"arch": "arm64"}})),
        SpecError::LabelConflict {
            label: "arch".into(),
            argument: "arch".into(),
            value: "arm64".into(),
            current: "amd64".into()
        }
    );
    assert_eq!(
        from_spec(&spec(merge(minimal(), json!({"arch": "arm64"}))), &ctx("x86_64-darwin", &[])).unwrap_err(),
        SpecError::InvalidOsArch { os: "darwin".into(), arch: "arm64".into(), suggestion: None }
    );
    assert_eq!(
        from_spec(&spec(merge(minimal(), json!({"os": "darwin", "arch": "amd64"}))), &ctx("x86_64-linux", &[]))
            .unwrap_err(),
        SpecError::InvalidOsArch { os: "darwin".into(), arch: "amd64".into(), suggestion: Some("x86_64".into()) }
    );
}

/// The errors never panic and the Display is one line.
#[test]
fn messages_are_single_lines() {
    let err = resolve(merge(minimal(), json!({"isolators": {"resource/cpu": {"limit": "x"}}}))).unwrap_err();
    assert!(!err.to_string().contains('\n'));
    // And a manifest built from a spec parses back identically.
    let r = resolve(merge(minimal(), json!({"ports": {"http": {"protocol": "tcp", "port": 80}}}))).unwrap();
    assert_eq!(ImageManifest::from_json_slice(&r.manifest.to_canonical_json()).unwrap(), r.manifest);
}
