//! Table tests for the whole-manifest rules of [`ImageManifest::validate`], driven
//! through [`ImageManifest::from_json_slice`].

use serde_json::{json, Value};

use super::*;

fn base() -> Value {
    json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/app",
        "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
        "app": {
            "exec": ["/bin/app"],
            "user": "0",
            "group": "0",
            "mountPoints": [{"name": "data", "path": "/data", "readOnly": false}],
            "ports": [{"name": "http", "protocol": "tcp", "port": 80, "count": 1, "socketActivated": false}]
        },
        "annotations": [{"name": "created", "value": "1970-01-01T00:00:01Z"}]
    })
}

fn push(list: &mut Value, item: Value) {
    list.as_array_mut().expect("a list").push(item);
}

fn with(edit: impl FnOnce(&mut Value)) -> Result<ImageManifest, ManifestError> {
    let mut v = base();
    edit(&mut v);
    ImageManifest::from_json_slice(&serde_json::to_vec(&v).unwrap())
}

#[test]
fn base_is_valid_and_round_trips() {
    let m = with(|_| {}).unwrap();
    assert_eq!(ImageManifest::from_json_slice(&m.to_canonical_json()).unwrap(), m);
    assert_eq!(ImageManifest::from_json_slice(&m.to_pretty_json()).unwrap(), m);
    assert_eq!(m.label("os"), Some("linux"));
    assert_eq!(m.annotation("created"), Some("1970-01-01T00:00:01Z"));
}

#[test]
fn rule_violations_table() {
    use ManifestError::*;
    let s = |x: &str| x.to_string();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Edit, ManifestError)> = vec![
        (
            Box::new(|v| push(&mut v["labels"], json!({"name": "name", "value": "x"}))),
            LabelNamedName { at: s("labels") },
        ),
        (
            Box::new(|v| push(&mut v["labels"], json!({"name": "os", "value": "linux"}))),
            DuplicateLabel { at: s("labels"), name: s("os") },
        ),
        (Box::new(|v| v["labels"] = json!([{"name": "os", "value": "linux"}])), MissingOsArch { missing: "arch" }),
        (Box::new(|v| v["labels"] = json!([{"name": "arch", "value": "amd64"}])), MissingOsArch { missing: "os" }),
        (Box::new(|v| v["labels"][1]["value"] = json!("x86_64")), InvalidOsArch { os: s("linux"), arch: s("x86_64") }),
        (Box::new(|v| v["labels"][1]["value"] = json!("arm64")), InvalidOsArch { os: s("linux"), arch: s("arm64") }),
        (Box::new(|v| v["app"]["user"] = json!("")), EmptyUserGroup { field: "user" }),
        (Box::new(|v| v["app"]["group"] = json!("")), EmptyUserGroup { field: "group" }),
        (
            Box::new(|v| v["app"]["environment"] = json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
            DuplicateEnv { name: s("A") },
        ),
        (
            Box::new(|v| v["app"]["environment"] = json!([{"name": "A", "value": "a\u{0}b"}])),
            EnvValueNul { name: s("A") },
        ),
        (
            Box::new(|v| {
                v["app"]["eventHandlers"] =
                    json!([{"name": "pre-start", "exec": ["/bin/a"]}, {"name": "pre-start", "exec": ["/bin/b"]}])
            }),
            DuplicateEventHandler { name: "pre-start" },
        ),
        (
            Box::new(|v| push(&mut v["app"]["mountPoints"], json!({"name": "data", "path": "/other"}))),
            DuplicateMountName { name: s("data") },
        ),
        (
            Box::new(|v| {
                push(&mut v["app"]["mountPoints"], json!({"name": "other", "path": "/data", "readOnly": true}))
            }),
            DuplicateMountPath { path: s("/data"), first: s("data"), second: s("other") },
        ),
        (Box::new(|v| v["app"]["mountPoints"][0]["path"] = json!("/")), MountAtRoot { name: s("data") }),
        (
            Box::new(|v| push(&mut v["app"]["ports"], json!({"name": "http", "protocol": "udp", "port": 81}))),
            DuplicatePortName { name: s("http") },
        ),
        (
            Box::new(|v| v["app"]["ports"][0]["protocol"] = json!("sctp")),
            BadProtocol { name: s("http"), protocol: s("sctp") },
        ),
        (Box::new(|v| v["app"]["ports"][0]["port"] = json!(0)), PortZero { name: s("http") }),
        (Box::new(|v| v["app"]["ports"][0]["count"] = json!(0)), PortCountZero { name: s("http") }),
        (
            Box::new(|v| {
                v["app"]["ports"][0]["port"] = json!(65000);
                v["app"]["ports"][0]["count"] = json!(537);
            }),
            PortRangeOverflow { name: s("http"), port: 65000, count: 537 },
        ),
        (
            Box::new(|v| {
                v["app"]["isolators"] = json!([
                    {"name": "os/linux/cpu-shares", "value": 10},
                    {"name": "os/linux/cpu-shares", "value": 20}
                ])
            }),
            DuplicateIsolator { name: "os/linux/cpu-shares" },
        ),
        (
            Box::new(|v| {
                v["app"]["isolators"] = json!([
                    {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}},
                    {"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}
                ])
            }),
            ConflictingIsolators { first: "os/linux/seccomp-retain-set", second: "os/linux/seccomp-remove-set" },
        ),
        (
            Box::new(|v| push(&mut v["annotations"], json!({"name": "created", "value": "1970-01-01T00:00:02Z"}))),
            DuplicateAnnotation { name: s("created") },
        ),
        (
            Box::new(|v| v["annotations"][0]["value"] = json!("1970-01-01 00:00:01")),
            BadCreated { source: TimestampError::Syntax { value: s("1970-01-01 00:00:01") } },
        ),
        (
            Box::new(|v| push(&mut v["annotations"], json!({"name": "homepage", "value": "ftp://x"}))),
            BadUrl { name: s("homepage"), source: HttpUrlError::BadScheme { value: s("ftp://x") } },
        ),
        (Box::new(|v| v["pathWhitelist"] = json!(["/a", "/a"])), DuplicateWhitelistPath { path: s("/a") }),
        (
            Box::new(|v| {
                v["dependencies"] =
                    json!([{"imageName": "example.com/base", "labels": [{"name": "name", "value": "x"}]}])
            }),
            LabelNamedName { at: s("dependencies[0].labels") },
        ),
    ];
    for (i, (edit, want)) in cases.into_iter().enumerate() {
        assert_eq!(with(edit), Err(want), "case {i}");
    }
}

#[test]
fn shape_errors_name_the_path() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (Box::new(|v| v["acKind"] = json!("PodManifest")), "acKind", "\"ImageManifest\""),
        (Box::new(|v| v["acVersion"] = json!("0.9.0")), "acVersion", "0.8.x"),
        (Box::new(|v| v["name"] = json!("a//b")), "name", "two separators"),
        (Box::new(|v| v["app"]["exec"] = json!(["bin/app"])), "app.exec", "not absolute"),
        (Box::new(|v| v["app"]["exec"] = json!([])), "app.exec", "exec is empty"),
        (Box::new(|v| v["app"]["supplementaryGIDs"] = json!([-1])), "app.supplementaryGIDs[0]", "-1"),
        (
            Box::new(|v| v["app"]["supplementaryGids"] = json!([1])),
            "app.supplementaryGids",
            "unknown field `supplementaryGids`",
        ),
        (Box::new(|v| v["app"]["workingDirectory"] = json!("work")), "app.workingDirectory", "not absolute"),
        (Box::new(|v| v["app"]["mountPoints"][0]["name"] = json!("Data")), "app.mountPoints[0].name", "AC Name"),
        (Box::new(|v| v["app"]["ports"][0]["port"] = json!(70000)), "app.ports[0].port", "70000"),
        (
            Box::new(|v| v["app"]["eventHandlers"] = json!([{"name": "on-start", "exec": ["/a"]}])),
            "app.eventHandlers[0].name",
            "pre-start",
        ),
        (
            Box::new(|v| v["app"]["environment"] = json!([{"name": "1X", "value": ""}])),
            "app.environment[0].name",
            "must start with",
        ),
        (Box::new(|v| v["app"]["isolators"] = json!([{"name": "resource/cpu"}])), "app.isolators[0]", "has no value"),
        (
            Box::new(|v| v["app"]["isolators"] = json!([{"name": "resource/gpu", "value": {}}])),
            "app.isolators[0]",
            "unknown isolator",
        ),
        (
            Box::new(|v| v["dependencies"] = json!([{"imageName": "x", "imageID": "sha512-00"}])),
            "dependencies[0].imageID",
            "128",
        ),
        (Box::new(|v| v["labels"][0]["name"] = json!("OS")), "labels[0].name", "AC Identifier"),
    ];
    for (edit, path, needle) in cases {
        match with(edit) {
            Err(ManifestError::Json { path: p, message }) => {
                assert_eq!(p, path, "{message}");
                assert!(message.contains(needle), "{path}: {message:?} lacks {needle:?}");
            }
            other => panic!("{path}: expected a Json error, got {other:?}"),
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = with(|_| {}).unwrap().to_canonical_json();
    bytes.extend_from_slice(b" {}");
    match ImageManifest::from_json_slice(&bytes) {
        Err(ManifestError::Json { path, message }) => {
            assert_eq!(path, ".");
            assert!(message.contains("trailing characters"), "{message}");
        }
        other => panic!("expected a Json error, got {other:?}"),
    }
    // Whitespace after the object is fine (the pretty copy ends with a newline).
    let mut ok = with(|_| {}).unwrap().to_canonical_json();
    ok.extend_from_slice(b"\n\n");
    assert!(ImageManifest::from_json_slice(&ok).is_ok());
}

#[test]
fn dependencies_and_whitelist_round_trip() {
    let id = format!("sha512-{}", "ab".repeat(64));
    let m = with(|v| {
        v["dependencies"] = json!([{
            "imageName": "example.com/base",
            "imageID": id,
            "labels": [{"name": "version", "value": "1"}],
            "size": 22017258
        }, {"imageName": "example.com/other"}]);
        v["pathWhitelist"] = json!(["/bin/app", "/etc/app.conf"]);
    })
    .unwrap();
    assert_eq!(m.dependencies[0].image_id.map(|i| i.to_string()), Some(id.clone()));
    assert_eq!(m.dependencies[1].image_id, None);
    let bytes = m.to_canonical_json();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(&format!(r#""imageID":"{id}""#)), "{text}");
    assert!(text.contains(r#"{"imageName":"example.com/other"}"#), "{text}");
    assert_eq!(ImageManifest::from_json_slice(&bytes).unwrap(), m);
}

#[test]
fn keys_are_in_canonical_case() {
    let m = with(|v| {
        v["app"]["supplementaryGIDs"] = json!([5]);
        v["app"]["workingDirectory"] = json!("/w");
        v["app"]["eventHandlers"] = json!([{"name": "post-stop", "exec": ["/bin/x"]}]);
        v["app"]["ports"][0]["socketActivated"] = json!(true);
    })
    .unwrap();
    let text = String::from_utf8(m.to_canonical_json()).unwrap();
    for key in [
        "acKind",
        "acVersion",
        "supplementaryGIDs",
        "mountPoints",
        "workingDirectory",
        "eventHandlers",
        "readOnly",
        "socketActivated",
    ] {
        assert!(text.contains(&format!("\"{key}\":")), "{key} missing in {text}");
    }
}
