//! The golden manifest: a realistic `aci` spec (tests/data/manifest/*.spec.json)
//! must give exactly the bytes of `*.manifest.json` (canonical, inside the image)
//! and `*.manifest.pretty.json` (the readable copy). actool must accept an image
//! holding it. Set `MKACI_UPDATE_GOLDEN=1` to rewrite the expected files, then
//! review the diff.

mod common;
use common::need;

use std::path::{Path, PathBuf};
use std::process::Command;

use mkaci::image::manifest::ImageManifest;
use mkaci::image::spec::{from_spec, Resolved, SpecContext};
use mkaci::nix::attrs::AciSpec;
use mkaci::nix::store_path::{StoreDir, StorePath};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/manifest").join(name)
}

/// The golden input: the `aci` attribute plus the context mkaci build would pass.
fn golden(stem: &str) -> Resolved {
    let input: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data(&format!("{stem}.spec.json"))).unwrap()).unwrap();
    let spec: AciSpec = serde_json::from_value(input["aci"].clone()).unwrap();
    let store = StoreDir::default();
    let thin: Vec<StorePath> = input["thinMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let sp = store.parse_path(t["path"].as_str().unwrap()).unwrap();
            assert_eq!(sp.hash(), t["hash"].as_str().unwrap());
            sp
        })
        .collect();
    let ctx = SpecContext { system: input["system"].as_str().unwrap(), store: &store, thin_mounts: &thin };
    from_spec(&spec, &ctx).unwrap()
}

fn check_golden(stem: &str) -> Resolved {
    let r = golden(stem);
    let canonical = r.manifest.to_canonical_json();
    let pretty = r.manifest.to_pretty_json();
    let (cpath, ppath) = (data(&format!("{stem}.manifest.json")), data(&format!("{stem}.manifest.pretty.json")));
    if std::env::var_os("MKACI_UPDATE_GOLDEN").is_some() {
        std::fs::write(&cpath, &canonical).unwrap();
        std::fs::write(&ppath, &pretty).unwrap();
    }
    assert_eq!(
        String::from_utf8(canonical).unwrap(),
        std::fs::read_to_string(&cpath).unwrap(),
        "{stem}: canonical bytes"
    );
    assert_eq!(String::from_utf8(pretty).unwrap(), std::fs::read_to_string(&ppath).unwrap(), "{stem}: pretty bytes");
    r
}

#[test]
fn golden_thin_busybox() {
    let r = check_golden("busybox-thin");
    assert_eq!(r.file_name, "busybox-1.36.1-linux-amd64.aci");
}

#[test]
fn golden_fat_minimal() {
    let r = check_golden("hello-fat");
    assert_eq!(r.file_name, "hello-latest-linux-aarch64.aci");
}

#[test]
fn deterministic_and_round_trips() {
    if !need("actool") {
        return;
    }
    for stem in ["busybox-thin", "hello-fat"] {
        let a = golden(stem);
        let b = golden(stem);
        assert_eq!(a.manifest.to_canonical_json(), b.manifest.to_canonical_json());
        assert_eq!(a.manifest.to_pretty_json(), b.manifest.to_pretty_json());
        let canonical = a.manifest.to_canonical_json();
        assert!(!canonical.contains(&b'\n'), "canonical form is compact");
        let back = ImageManifest::from_json_slice(&canonical).unwrap();
        assert_eq!(back, a.manifest);
        assert_eq!(back.to_canonical_json(), canonical, "parse + write is the identity on bytes");
        let from_pretty = ImageManifest::from_json_slice(&a.manifest.to_pretty_json()).unwrap();
        assert_eq!(from_pretty, a.manifest);
        assert!(a.manifest.to_pretty_json().ends_with(b"}\n"));
    }
}

/// Writes a minimal ACI (`manifest` + `rootfs/`) with GNU tar and runs `actool validate`.
fn actool_validate(manifest: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    let aci = dir.path().join("image.aci");
    let tar = Command::new("tar")
        .arg("--create")
        .arg("--file")
        .arg(&aci)
        .arg("--directory")
        .arg(dir.path())
        .args(["manifest", "rootfs"])
        .status()
        .expect("GNU tar runs");
    assert!(tar.success());
    let out = Command::new("actool").arg("validate").arg(&aci).output().expect("actool is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn actool_accepts_the_golden_manifests() {
    if !need("actool") {
        return;
    }
    for stem in ["busybox-thin", "hello-fat"] {
        let bytes = std::fs::read(data(&format!("{stem}.manifest.json"))).unwrap();
        let (ok, text) = actool_validate(&bytes);
        assert!(ok, "actool rejected {stem}: {text}");
    }
    // The check can fail: actool refuses a manifest whose acKind is wrong.
    let bytes = std::fs::read(data("hello-fat.manifest.json")).unwrap();
    let broken = String::from_utf8(bytes).unwrap().replace("\"ImageManifest\"", "\"PodManifest\"");
    let (ok, text) = actool_validate(broken.as_bytes());
    assert!(!ok, "actool accepted a PodManifest as image manifest: {text}");
}

/// Every isolator shape and quantity form we accept is accepted by actool too,
/// so "stricter than actool" never means "incompatible with actool".
#[test]
fn actool_accepts_every_isolator_we_accept() {
    if !need("actool") {
        return;
    }
    let sets = [
        serde_json::json!({
            "resource/cpu": {"request": "250m", "limit": "1.5"},
            "resource/memory": {"request": "1G", "limit": "2Gi"},
            "resource/block-bandwidth": {"default": true, "limit": "2M"},
            "resource/block-iops": {"default": true, "limit": "1e3"},
            "resource/network-bandwidth": {"default": true, "limit": "1k"},
            "os/linux/capabilities-retain-set": {"set": ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]},
            "os/linux/no-new-privileges": false,
            "os/linux/seccomp-retain-set": {"set": ["@appc.io/all"], "errno": "EPERM"},
            "os/linux/oom-score-adj": -1000,
            "os/linux/cpu-shares": 262144,
            "os/linux/selinux-context": {"user": "system_u", "role": "system_r", "type": "svirt_lxc_net_t", "level": "s0:c1,c2"},
            "os/unix/sysctl": {"net.ipv4.tcp_mtu_probing": "1"}
        }),
        serde_json::json!({
            "resource/cpu": {"limit": "2"},
            "resource/memory": {"limit": "500Mi"},
            "os/linux/capabilities-remove-set": {"set": ["CAP_MKNOD"]},
            "os/linux/seccomp-remove-set": {"set": ["reboot", "clock_settime"], "errno": "ENOTSUP"},
            "os/linux/oom-score-adj": 1000,
            "os/linux/cpu-shares": 2
        }),
    ];
    for isolators in sets {
        let spec: AciSpec = serde_json::from_value(serde_json::json!({
            "packages": [], "defaultName": "iso", "exec": "/bin/true", "isolators": isolators
        }))
        .unwrap();
        let ctx = SpecContext { system: "x86_64-linux", store: &StoreDir::default(), thin_mounts: &[] };
        let r = from_spec(&spec, &ctx).unwrap();
        let (ok, text) = actool_validate(&r.manifest.to_canonical_json());
        assert!(ok, "actool rejected {isolators}: {text}");
    }
}

/// Corrupting the golden manifest byte by byte never panics the parser, and any
/// corruption that still parses is a valid manifest that round-trips exactly.
#[test]
fn corrupted_manifests_never_panic() {
    let golden = std::fs::read(data("busybox-thin.manifest.json")).unwrap();
    let replacements: &[&[u8]] = &[b"", b"/", b"-", b"A", b"0", b"\"", b"{", b"\xff", b"\\u0000", b"99999999999"];
    let (mut parsed, mut refused) = (0, 0);
    for pos in 0..golden.len() {
        for rep in replacements {
            let mut bytes = golden[..pos].to_vec();
            bytes.extend_from_slice(rep);
            bytes.extend_from_slice(&golden[pos + 1..]);
            match ImageManifest::from_json_slice(&bytes) {
                Ok(m) => {
                    parsed += 1;
                    m.validate().unwrap();
                    assert_eq!(ImageManifest::from_json_slice(&m.to_canonical_json()).unwrap(), m);
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    // Both outcomes happen: the corpus is not trivially all-good or all-bad.
    assert!(parsed > 100 && refused > 1000, "parsed {parsed}, refused {refused}");
}

/// Where we are stricter than actool (`docs/appc.md`): each manifest below passes
/// `actool validate` but `from_json_slice` refuses it.
#[test]
fn stricter_than_actool() {
    if !need("actool") {
        return;
    }
    let golden = std::fs::read_to_string(data("hello-fat.manifest.json")).unwrap();
    let edits: &[(&str, &str)] = &[
        ("\"name\":\"hello\"", "\"name\":\"a//b\""),
        ("\"name\":\"hello\"", "\"name\":\"a..b\""),
        ("\"exec\":[\"/bin/hello\"", "\"exec\":[\"bin/hello\""),
        ("\"user\":\"0\",\"group\":\"0\"", "\"user\":\"0\",\"group\":\"0\",\"mountPoints\":[{\"name\":\"a\",\"path\":\"/x\"},{\"name\":\"a\",\"path\":\"/y\"}]"),
        ("\"user\":\"0\",\"group\":\"0\"", "\"user\":\"0\",\"group\":\"0\",\"mountPoints\":[{\"name\":\"a\",\"path\":\"rel\"}]"),
        ("\"user\":\"0\",\"group\":\"0\"", "\"user\":\"0\",\"group\":\"0\",\"ports\":[{\"name\":\"a\",\"protocol\":\"tcp\",\"port\":80},{\"name\":\"a\",\"protocol\":\"udp\",\"port\":81}]"),
        ("{\"name\":\"created\"", "{\"name\":\"homepage\",\"value\":\"https://\"},{\"name\":\"created\""),
        (",{\"name\":\"arch\",\"value\":\"aarch64\"}", ""),
        ("\"user\":\"0\",\"group\":\"0\"", "\"user\":\"0\",\"group\":\"0\",\"supplementaryGids\":[1]"),
    ];
    for (from, to) in edits {
        assert!(golden.contains(from), "{from}");
        let bytes = golden.replacen(from, to, 1);
        let (ok, text) = actool_validate(bytes.as_bytes());
        assert!(ok, "actool now refuses {to}: {text}");
        assert!(ImageManifest::from_json_slice(bytes.as_bytes()).is_err(), "we accept {to}");
    }
}
