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

/// `app.x[i].y`-style locations, written as the path text.
fn loc(path: &str) -> Location {
    let mut at = Location::root();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            at = at.key(key);
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            at = at.index(idx.trim_end_matches(']').parse().unwrap());
        }
    }
    assert_eq!(at.to_string(), path);
    at
}

#[test]
fn rule_violations_table() {
    use ManifestError::*;
    let s = |x: &str| x.to_string();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Edit, ManifestError)> = vec![
        (
            Box::new(|v| push(&mut v["labels"], json!({"name": "name", "value": "x"}))),
            LabelNamedName { at: loc("labels[2].name") },
        ),
        (
            Box::new(|v| push(&mut v["labels"], json!({"name": "os", "value": "linux"}))),
            DuplicateLabel { at: loc("labels[2].name"), first: loc("labels[0].name"), name: s("os") },
        ),
        (
            Box::new(|v| v["labels"] = json!([{"name": "os", "value": "linux"}])),
            MissingOsArch { at: loc("labels"), missing: "arch" },
        ),
        (
            Box::new(|v| v["labels"] = json!([{"name": "arch", "value": "amd64"}])),
            MissingOsArch { at: loc("labels"), missing: "os" },
        ),
        (
            Box::new(|v| v["labels"][1]["value"] = json!("x86_64")),
            InvalidOsArch { at: loc("labels[1].value"), os: s("linux"), arch: s("x86_64") },
        ),
        (
            Box::new(|v| v["labels"][1]["value"] = json!("arm64")),
            InvalidOsArch { at: loc("labels[1].value"), os: s("linux"), arch: s("arm64") },
        ),
        (
            Box::new(|v| push(&mut v["labels"], json!({"name": "version", "value": "1/../../x"}))),
            LabelNotInFileName {
                at: loc("labels[2].value"),
                label: s("version"),
                value: s("1/../../x"),
                problem: "it contains '/'",
            },
        ),
        (
            Box::new(|v| v["labels"][0]["value"] = json!("linux\u{7}")),
            LabelNotInFileName {
                at: loc("labels[0].value"),
                label: s("os"),
                value: s("linux\u{7}"),
                problem: "it contains a control character",
            },
        ),
        (
            Box::new(|v| {
                v["dependencies"] =
                    json!([{"imageName": "example.com/dep", "labels": [{"name": "arch", "value": "a/b"}]}])
            }),
            LabelNotInFileName {
                at: loc("dependencies[0].labels[0].value"),
                label: s("arch"),
                value: s("a/b"),
                problem: "it contains '/'",
            },
        ),
        (Box::new(|v| v["app"]["user"] = json!("")), EmptyUserGroup { at: loc("app.user") }),
        (Box::new(|v| v["app"]["group"] = json!("")), EmptyUserGroup { at: loc("app.group") }),
        (
            Box::new(|v| v["app"]["environment"] = json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
            DuplicateEnv { at: loc("app.environment[1].name"), first: loc("app.environment[0].name"), name: s("A") },
        ),
        (
            Box::new(|v| v["app"]["environment"] = json!([{"name": "A", "value": "a\u{0}b"}])),
            EnvValueNul { at: loc("app.environment[0].value"), name: s("A") },
        ),
        (
            Box::new(|v| {
                v["app"]["eventHandlers"] =
                    json!([{"name": "pre-start", "exec": ["/bin/a"]}, {"name": "pre-start", "exec": ["/bin/b"]}])
            }),
            DuplicateEventHandler {
                at: loc("app.eventHandlers[1].name"),
                first: loc("app.eventHandlers[0].name"),
                name: "pre-start",
            },
        ),
        (
            Box::new(|v| push(&mut v["app"]["mountPoints"], json!({"name": "data", "path": "/other"}))),
            DuplicateMountName {
                at: loc("app.mountPoints[1].name"),
                first: loc("app.mountPoints[0].name"),
                name: s("data"),
            },
        ),
        (
            Box::new(|v| {
                push(&mut v["app"]["mountPoints"], json!({"name": "other", "path": "/data", "readOnly": true}))
            }),
            DuplicateMountPath {
                at: loc("app.mountPoints[1].path"),
                first: loc("app.mountPoints[0].path"),
                path: s("/data"),
            },
        ),
        (
            Box::new(|v| v["app"]["mountPoints"][0]["path"] = json!("/")),
            MountAtRoot { at: loc("app.mountPoints[0].path"), name: s("data") },
        ),
        (
            Box::new(|v| push(&mut v["app"]["ports"], json!({"name": "http", "protocol": "udp", "port": 81}))),
            DuplicatePortName { at: loc("app.ports[1].name"), first: loc("app.ports[0].name"), name: s("http") },
        ),
        (
            Box::new(|v| v["app"]["ports"][0]["protocol"] = json!("sctp")),
            BadProtocol { at: loc("app.ports[0].protocol"), protocol: s("sctp") },
        ),
        (Box::new(|v| v["app"]["ports"][0]["port"] = json!(0)), PortZero { at: loc("app.ports[0].port") }),
        (Box::new(|v| v["app"]["ports"][0]["count"] = json!(0)), PortCountZero { at: loc("app.ports[0].count") }),
        (
            Box::new(|v| {
                v["app"]["ports"][0]["port"] = json!(65000);
                v["app"]["ports"][0]["count"] = json!(537);
            }),
            PortRangeOverflow { at: loc("app.ports[0]"), port: 65000, count: 537 },
        ),
        (
            Box::new(|v| {
                v["app"]["isolators"] = json!([
                    {"name": "os/linux/cpu-shares", "value": 10},
                    {"name": "os/linux/cpu-shares", "value": 20}
                ])
            }),
            DuplicateIsolator {
                at: loc("app.isolators[1].name"),
                first: loc("app.isolators[0].name"),
                name: "os/linux/cpu-shares",
            },
        ),
        (
            Box::new(|v| {
                v["app"]["isolators"] = json!([
                    {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}},
                    {"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}
                ])
            }),
            ConflictingIsolators {
                at: loc("app.isolators[1].name"),
                first_at: loc("app.isolators[0].name"),
                first: "os/linux/seccomp-remove-set",
                second: "os/linux/seccomp-retain-set",
            },
        ),
        (
            Box::new(|v| push(&mut v["annotations"], json!({"name": "created", "value": "1970-01-01T00:00:02Z"}))),
            DuplicateAnnotation {
                at: loc("annotations[1].name"),
                first: loc("annotations[0].name"),
                name: s("created"),
            },
        ),
        (
            Box::new(|v| v["annotations"][0]["value"] = json!("1970-01-01 00:00:01")),
            BadCreated {
                at: loc("annotations[0].value"),
                reason: TimestampError::Syntax { value: s("1970-01-01 00:00:01") },
            },
        ),
        (
            Box::new(|v| push(&mut v["annotations"], json!({"name": "homepage", "value": "ftp://x"}))),
            BadUrl {
                at: loc("annotations[1].value"),
                name: s("homepage"),
                reason: HttpUrlError::BadScheme { value: s("ftp://x") },
            },
        ),
        (
            Box::new(|v| v["pathWhitelist"] = json!(["/a", "/a"])),
            DuplicateWhitelistPath { at: loc("pathWhitelist[1]"), first: loc("pathWhitelist[0]"), path: s("/a") },
        ),
        (
            Box::new(|v| {
                v["dependencies"] =
                    json!([{"imageName": "example.com/base", "labels": [{"name": "name", "value": "x"}]}])
            }),
            LabelNamedName { at: loc("dependencies[0].labels[0].name") },
        ),
    ];
    for (i, (edit, want)) in cases.into_iter().enumerate() {
        let got = with(edit);
        assert_eq!(got, Err(want), "case {i}");
        // The message starts with the location.
        let err = got.unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: ", err.at())), "case {i}: {err}");
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
            Err(ManifestError::Json { at, message }) => {
                assert_eq!(at.to_string(), path, "{message}");
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
        Err(ManifestError::Json { at, message }) => {
            assert_eq!(at, Location::root());
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
