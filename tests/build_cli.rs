//! `mkaci build --attrs FILE --out DIR` end to end, standing in for the sandbox:
//! a store in a temporary directory, real busybox-static, real actool and bwrap.

mod common;
use common::need;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const MKACI: &str = env!("CARGO_BIN_EXE_mkaci");
const H_BUSYBOX: &str = "0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";
const H_CONF: &str = "1c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";
const H_FILE: &str = "2c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";

type Store = common::FakeStore;

/// busybox (bin/busybox + applet links), conf (etc/motd, share/doc, references
/// busybox), and a single-file store path.
fn store() -> Store {
    let s = Store::new();
    s.add_busybox(H_BUSYBOX, &["sh", "echo", "cat", "ls"]);
    let conf = PathBuf::from(s.path(H_CONF, "conf"));
    std::fs::create_dir_all(conf.join("etc")).unwrap();
    std::fs::create_dir_all(conf.join("share/doc")).unwrap();
    std::fs::write(conf.join("share/doc/motd"), "welcome\n").unwrap();
    symlink("../share/doc/motd", conf.join("etc/motd")).unwrap();
    std::fs::write(s.path(H_FILE, "file"), "single file\n").unwrap();
    s
}

fn attrs(s: &Store, aci: Value) -> Value {
    let bb = s.path(H_BUSYBOX, "busybox");
    let conf = s.path(H_CONF, "conf");
    let file = s.path(H_FILE, "file");
    let mut spec = json!({
        "defaultName": "busybox",
        "version": "1.35.0",
        "packages": [bb, conf],
        "exec": ["/bin/sh", "-c", "echo hi"],
    });
    for (k, v) in aci.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "outputs": {"out": "/unused"},
        "system": "x86_64-linux",
        "storeDir": s.dir.to_str().unwrap(),
        "closure": [
            {"path": bb, "narHash": nar_hash(&bb), "narSize": 1, "references": []},
            {"path": conf, "narHash": nar_hash(&conf), "narSize": 1, "references": [bb, file]},
            {"path": file, "narHash": nar_hash(&file), "narSize": 1, "references": []},
        ],
        "mkaci": "/nix/store/00000000000000000000000000000000-mkaci/bin/mkaci",
        "aci": spec,
    })
}

/// The NAR hash Nix would record for a store path of the fake store.
fn nar_hash(path: &str) -> String {
    mkaci::nix::nar::nar_hash_of(Path::new(path)).unwrap().to_string()
}

fn run_build(s: &Store, attrs: &Value, out: &Path) -> Output {
    let file = s.tmp.path().join("attrs.json");
    std::fs::write(&file, serde_json::to_vec(attrs).unwrap()).unwrap();
    Command::new(MKACI).args(["build", "--attrs"]).arg(&file).arg("--out").arg(out).output().unwrap()
}

/// `mkaci build --threads THREADS --attrs FILE --out OUT`.
fn build_threads(file: &Path, threads: &str, out: &Path) -> Output {
    Command::new(MKACI)
        .args(["build", "--threads", threads, "--attrs"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn build_ok(s: &Store, aci: Value) -> PathBuf {
    let out = s.tmp.path().join("result");
    let o = run_build(s, &attrs(s, aci), &out);
    assert!(o.status.success(), "build failed: {}", String::from_utf8_lossy(&o.stderr));
    out
}

fn extract(image: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let st = Command::new("tar").arg("-xf").arg(image).arg("-C").arg(into).status().unwrap();
    assert!(st.success());
}

fn actool_validate(image: &Path) {
    let o = Command::new("actool").arg("validate").arg(image).output().expect("actool (apt install appc-spec)");
    assert!(o.status.success(), "actool: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn fat_image_runs_from_its_rootfs_alone() {
    if !need("actool") || !need("bwrap") {
        return;
    }
    let s = store();
    let out = build_ok(&s, json!({"dnsquirks": true}));
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("nix2aci.json")).unwrap()).unwrap();
    assert_eq!(index["nix2aci"], 2);
    let img = &index["artifacts"][0];
    assert_eq!(img["kind"], "aci");
    assert_eq!(img["files"]["image"], "busybox-1.35.0-linux-amd64.aci");
    assert_eq!(img["files"]["manifest"], "busybox-1.35.0-linux-amd64.manifest");
    assert_eq!(img["files"]["id"], "busybox-1.35.0-linux-amd64.id");
    assert_eq!(img["storeLayout"], "fat");
    assert_eq!(img["files"].get("mounts"), None);
    let image = out.join("busybox-1.35.0-linux-amd64.aci");
    actool_validate(&image);
    let id = std::fs::read_to_string(out.join("busybox-1.35.0-linux-amd64.id")).unwrap();
    assert_eq!(id.trim(), img["digests"]["imageId"].as_str().unwrap());
    let script = std::fs::read_to_string(out.join("postprocess.sh")).unwrap();
    assert!(script.contains("postprocess \"$@\" -- \"$dir\""));
    assert!(std::fs::metadata(out.join("postprocess.sh")).unwrap().permissions().mode() & 0o111 != 0);

    let x = s.tmp.path().join("x");
    extract(&image, &x);
    let rootfs = x.join("rootfs");
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(), "welcome\n");
    assert!(!std::fs::symlink_metadata(rootfs.join("etc/motd")).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(rootfs.join("etc/hosts")).unwrap().contains("localhost"));
    assert_eq!(std::fs::metadata(rootfs.join("tmp")).unwrap().permissions().mode() & 0o7777, 0o1777);
    let o = Command::new("bwrap")
        .arg("--bind")
        .arg(&rootfs)
        .args(["/", "--proc", "/proc", "--dev", "/dev", "/bin/sh", "-c", "echo hi from $(cat /etc/motd)"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi from welcome\n");
}

#[test]
fn thin_image_needs_exactly_its_mounts() {
    if !need("actool") || !need("bwrap") {
        return;
    }
    let s = store();
    let out = build_ok(&s, json!({"thin": true}));
    let image = out.join("busybox-1.35.0-linux-amd64.aci");
    actool_validate(&image);
    let mounts = std::fs::read_to_string(out.join("busybox-1.35.0-linux-amd64.mounts")).unwrap();
    let volumes: Vec<&str> = mounts.trim_end().split(' ').collect();
    assert_eq!(volumes.len(), 3, "{mounts}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("busybox-1.35.0-linux-amd64.manifest")).unwrap()).unwrap();
    let mps = manifest["app"]["mountPoints"].as_array().unwrap();
    assert_eq!(mps.len(), 3);
    let mut sources = Vec::new();
    for v in &volumes {
        let rest = v.strip_prefix("--volume=").unwrap();
        let parts: Vec<&str> = rest.split(',').collect();
        let name = parts[0];
        let source = parts[2].strip_prefix("source=").unwrap();
        assert_eq!(parts[1], "kind=host");
        assert_eq!(parts[3], "readOnly=true");
        let mp = mps.iter().find(|m| m["name"] == name).expect("every volume has its mount point");
        assert_eq!(mp["path"], source);
        assert_eq!(mp["readOnly"], true);
        sources.push(source.to_string());
    }
    // No store contents in the image: placeholders only.
    let x = s.tmp.path().join("x");
    extract(&image, &x);
    let rootfs = x.join("rootfs");
    let bb = rootfs.join(s.path(H_BUSYBOX, "busybox").trim_start_matches('/'));
    assert!(std::fs::read_dir(&bb).unwrap().next().is_none());
    let single = rootfs.join(s.path(H_FILE, "file").trim_start_matches('/'));
    assert_eq!(std::fs::metadata(&single).unwrap().len(), 0);

    let run = |skip: Option<usize>| {
        let mut c = Command::new("bwrap");
        c.arg("--bind").arg(&rootfs).args(["/", "--proc", "/proc", "--dev", "/dev"]);
        for (i, src) in sources.iter().enumerate() {
            if Some(i) != skip {
                c.args(["--ro-bind", src, src]);
            }
        }
        c.args(["/bin/sh", "-c", "echo hi"]).output().unwrap()
    };
    let o = run(None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\n");
    let bb_index = sources.iter().position(|s| s.ends_with("-busybox")).unwrap();
    assert!(!run(Some(bb_index)).status.success(), "runs without the busybox volume");
}

#[test]
fn same_input_same_bytes() {
    let s = store();
    let out = build_ok(&s, json!({}));
    let a = std::fs::read(out.join("busybox-1.35.0-linux-amd64.aci")).unwrap();
    let sbom = std::fs::read(out.join(SBOM)).unwrap();
    let out2 = build_ok(&s, json!({})); // replaces the earlier result in place
    assert_eq!(out, out2);
    let b = std::fs::read(out2.join("busybox-1.35.0-linux-amd64.aci")).unwrap();
    assert_eq!(a, b);
    assert_eq!(sbom, std::fs::read(out2.join(SBOM)).unwrap());
}

/// Bad inputs: each fails with a message naming the field and the value, no panic,
/// and no output left behind.
#[test]
fn bad_inputs_fail_clearly_and_leave_nothing() {
    let s = store();
    let bb = s.path(H_BUSYBOX, "busybox");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"exec": ["/bin/nope"]}), vec!["exec[0]", "/bin/nope", "does not exist"]),
        (json!({"exec": ["bin/sh"]}), vec!["exec", "bin/sh", "absolute"]),
        (json!({"exec": ["/etc/motd"]}), vec!["exec[0]", "/etc/motd", "not executable"]),
        (json!({"exec": ["/bin"]}), vec!["exec[0]", "/bin", "directory"]),
        (
            json!({"exec": ["/bin/sh"], "workingDirectory": "/etc/motd"}),
            vec!["workingDirectory", "/etc/motd", "not a directory"],
        ),
        (
            json!({"exec": ["/bin/sh"], "workingDirectory": "/nowhere"}),
            vec!["workingDirectory", "/nowhere", "does not exist"],
        ),
        (json!({"packages": []}), vec!["packages", "empty"]),
        (json!({"packages": ["/usr/bin"]}), vec!["packages[0]", "/usr/bin"]),
        (
            json!({"packages": [format!("{}/3c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4-other", s.dir.display())]}),
            vec!["not in the closure"],
        ),
        (json!({"mounts": {"data": "/bin/sh"}}), vec!["data", "/bin/sh", "provided by", &bb]),
        (json!({"thin": "yes"}), vec!["aci.thin", "boolean"]),
        (json!({"exec": "/bin/sh", "thinn": true}), vec!["thinn"]),
        // appc has no zstd: refused for an ACI, naming the argument.
        (
            json!({"exec": ["/bin/sh"], "compression": "zstd"}),
            vec!["compression: an ACI cannot be compressed with zstd", "\"gzip\""],
        ),
    ];
    let out = s.tmp.path().join("bad-result");
    for (aci, needles) in cases {
        let o = run_build(&s, &attrs(&s, aci.clone()), &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{aci}: succeeded");
        for n in needles {
            assert!(err.contains(n), "{aci}: message lacks {n:?}: {err}");
        }
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{aci}: {err}");
        assert!(!out.exists(), "{aci}: left {}", out.display());
        let leftovers: Vec<_> = std::fs::read_dir(s.tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{aci}: left {leftovers:?}");
    }
}

/// The mistakes evaluation catches, given to mkaci directly (as `--attrs`
/// does, bypassing Nix): one error line that names the field, shows the
/// value and says the reason once, not repeated by its causes.
#[test]
fn each_reason_is_said_once() {
    let s = store();
    let reason = "\"bin/busybox\" is not absolute; it must start with '/'";
    let cases: Vec<(Value, Vec<&str>, &str)> = vec![
        (json!({"exec": ["bin/busybox"]}), vec!["exec: [\"bin/busybox\"]: exec[0]: ", "e.g. \"/bin/busybox\""], reason),
        (
            json!({"mounts": {"data": "var/lib/data"}}),
            vec!["mounts.data: \"var/lib/data\""],
            "\"var/lib/data\" is not absolute; it must start with '/'",
        ),
    ];
    let out = s.tmp.path().join("bad-result");
    for (aci, needles, reason) in cases {
        let o = run_build(&s, &attrs(&s, aci.clone()), &out);
        assert!(!o.status.success(), "{aci}: succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("mkaci: error:")).collect();
        assert_eq!(lines.len(), 1, "{aci}: {err}");
        assert_eq!(err.matches(reason).count(), 1, "{aci}: {reason:?} not exactly once in {err}");
        assert_eq!(err.matches("absolute").count(), 1, "{aci}: the reason said more than once: {err}");
        for n in needles {
            assert!(err.contains(n), "{aci}: message lacks {n:?}: {err}");
        }
    }
}

/// rkt resolves exec[0] before it mounts volumes, so a thin image names the store
/// path, keeping the link's own name (busybox dispatches on it).
#[test]
fn thin_exec_points_into_the_store() {
    if !need("actool") {
        return;
    }
    let s = store();
    let out = build_ok(&s, json!({"thin": true, "exec": ["/bin/echo", "hi"]}));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("busybox-1.35.0-linux-amd64.manifest")).unwrap()).unwrap();
    assert_eq!(manifest["app"]["exec"], json!([format!("{}/bin/echo", s.path(H_BUSYBOX, "busybox")), "hi"]));
    let out = build_ok(&s, json!({"exec": ["/bin/echo", "hi"]}));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("busybox-1.35.0-linux-amd64.manifest")).unwrap()).unwrap();
    assert_eq!(manifest["app"]["exec"], json!(["/bin/echo", "hi"]), "fat images keep exec as given");
}

/// A store path whose contents differ from the narHash of the closure fails
/// the build, naming the path, the expected hash and the actual one, and
/// leaves nothing behind. `--no-verify-store` packs it anyway.
#[test]
fn store_contents_must_match_their_nar_hash() {
    let s = store();
    let a = attrs(&s, json!({}));
    let conf = s.path(H_CONF, "conf");
    let expected = nar_hash(&conf);
    // One byte changed, same size: only the hash can tell.
    let motd = PathBuf::from(&conf).join("share/doc/motd");
    std::fs::write(&motd, "welcomE\n").unwrap();
    let actual = nar_hash(&conf);
    assert_ne!(expected, actual);
    let out = s.tmp.path().join("corrupt-result");
    let o = run_build(&s, &a, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a corrupted store path was packed");
    for needle in [&conf, &expected, &actual] {
        assert!(err.contains(needle.as_str()), "message lacks {needle}: {err}");
    }
    assert!(!out.exists(), "left {}", out.display());

    let file = s.tmp.path().join("attrs.json");
    let o = Command::new(MKACI)
        .args(["build", "--no-verify-store", "--attrs"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "--no-verify-store: {}", String::from_utf8_lossy(&o.stderr));
}

/// The image does not depend on the number of compression threads.
#[test]
fn same_bytes_for_any_thread_count() {
    let s = store();
    // Enough tar for several chunks, so that the threads have work to share.
    let big = PathBuf::from(s.path(H_CONF, "conf")).join("share/doc/big");
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3f).collect();
    std::fs::write(&big, data).unwrap();
    let a = attrs(&s, json!({}));
    let file = s.tmp.path().join("attrs.json");
    std::fs::write(&file, serde_json::to_vec(&a).unwrap()).unwrap();
    let mut first: Option<Vec<u8>> = None;
    for threads in ["1", "2", "7", "16"] {
        let out = s.tmp.path().join(format!("result-{threads}"));
        let o = build_threads(&file, threads, &out);
        assert!(o.status.success(), "{threads} threads: {}", String::from_utf8_lossy(&o.stderr));
        let mut bytes = std::fs::read(out.join("busybox-1.35.0-linux-amd64.aci")).unwrap();
        bytes.extend(std::fs::read(out.join(SBOM)).unwrap());
        match &first {
            None => first = Some(bytes),
            Some(f) => assert!(*f == bytes, "{threads} threads: different bytes"),
        }
    }
}

/// The files of a result's index entries of `kind`, in index order.
fn index_images(out: &Path, kind: &str) -> Vec<PathBuf> {
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("nix2aci.json")).unwrap()).unwrap();
    index["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .map(|a| out.join(a["files"]["image"].as_str().unwrap()))
        .collect()
}

fn manifest_of(out: &Path, image: &Path) -> Value {
    let m = out.join(image.file_name().unwrap().to_str().unwrap().replace(".aci", ".manifest"));
    serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap()
}

/// Renders an app and its dependencies as a runtime does (dependencies in
/// manifest order, then the app) into `into`.
fn render(out: &Path, into: &Path) {
    let app = &index_images(out, "aci")[0];
    let deps = manifest_of(out, app)["dependencies"].as_array().unwrap().clone();
    for d in &deps {
        let name = d["imageName"].as_str().unwrap();
        let file = index_images(out, "dependency-aci")
            .into_iter()
            .find(|f| manifest_of(out, f)["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the result"));
        extract(&file, into);
    }
    extract(app, into);
}

/// A layered image: one dependency image per store path, pinned by image ID
/// and size, most popular first; rendered, the same tree as the fat image.
#[test]
fn layered_image_renders_as_the_fat_one() {
    let s = store();
    let out = build_ok(&s, json!({"layered": true}));
    let apps = index_images(&out, "aci");
    let deps = index_images(&out, "dependency-aci");
    assert_eq!((apps.len(), deps.len()), (1, 3));
    let m = manifest_of(&out, &apps[0]);
    let pinned: Vec<&str> =
        m["dependencies"].as_array().unwrap().iter().map(|d| d["imageName"].as_str().unwrap()).collect();
    let dir = s.dir.display().to_string();
    let prefix = mkaci::image::manifest::AcIdentifier::map_from(&format!("busybox{dir}")).unwrap();
    assert_eq!(
        pinned,
        [format!("{prefix}/{H_BUSYBOX}-busybox"), format!("{prefix}/{H_FILE}-file"), format!("{prefix}/{H_CONF}-conf")],
        "most popular first, ties in store order"
    );
    for d in m["dependencies"].as_array().unwrap() {
        let file = deps.iter().find(|f| manifest_of(&out, f)["name"] == d["imageName"]).unwrap();
        let id = std::fs::read_to_string(file.with_extension("id")).unwrap();
        assert_eq!(d["imageID"].as_str().unwrap(), id.trim_end());
        assert_eq!(d["size"].as_u64().unwrap(), std::fs::metadata(file).unwrap().len());
        assert_eq!(d["labels"], json!([{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]));
    }
    if need("actool") {
        for f in apps.iter().chain(&deps) {
            actool_validate(f);
        }
    }
    // The closure SBOM names each path's dependency image.
    let sbom: Value = serde_json::from_slice(&std::fs::read(out.join(SBOM)).unwrap()).unwrap();
    let mut placed: Vec<String> = sbom["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["placement"]["kind"], "dependency-aci", "{p}");
            p["placement"]["image"].as_str().unwrap().to_string()
        })
        .collect();
    placed.sort();
    let mut names: Vec<String> = pinned.iter().map(|s| s.to_string()).collect();
    names.sort();
    assert_eq!(placed, names);
    let layered = s.tmp.path().join("layered");
    render(&out, &layered);
    let fat_out = s.tmp.path().join("fat-result");
    let o = run_build(&s, &attrs(&s, json!({})), &fat_out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fat = s.tmp.path().join("fat");
    extract(&index_images(&fat_out, "aci")[0], &fat);
    let diff = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(fat.join("rootfs"))
        .arg(layered.join("rootfs"))
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "the rendered layered rootfs differs from the fat one:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

/// A dependency image depends only on its store path, the prefix, os/arch
/// and compression: another image gives the same bytes; and every image of
/// the result is the same for any number of threads.
#[test]
fn dependency_images_are_the_same_in_every_image() {
    let s = store();
    let file = s.tmp.path().join("attrs.json");
    let mut results = Vec::new();
    for (i, (aci, threads)) in [
        (json!({"layered": true, "layerPrefix": "example.com/deps"}), "1"),
        (json!({"layered": true, "layerPrefix": "example.com/deps"}), "7"),
        (json!({"layered": true, "layerPrefix": "example.com/deps", "name": "other", "exec": ["/bin/echo"]}), "2"),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&file, serde_json::to_vec(&attrs(&s, aci)).unwrap()).unwrap();
        let out = s.tmp.path().join(format!("result-{i}"));
        let o = build_threads(&file, threads, &out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        results.push(out);
    }
    let files = |out: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "aci"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert!(files(&results[0]) == files(&results[1]), "1 and 7 threads give different files");
    let deps = |out: &Path| -> Vec<(String, Vec<u8>)> {
        files(out).into_iter().filter(|(n, _)| !n.starts_with("busybox-") && !n.starts_with("other-")).collect()
    };
    assert_eq!(deps(&results[0]).len(), 3);
    assert!(deps(&results[0]) == deps(&results[2]), "another image gives other dependency bytes");
}

/// A declared layer (format = "layer") holds its packages' closure; an
/// image that lists it links to its files, pins it first, and leaves its
/// store paths out of its own dependencies.
#[test]
fn declared_layer_is_linked_and_left_out() {
    let s = store();
    let file = s.path(H_FILE, "file");
    let mut layer_attrs = attrs(&s, json!({"name": "example.com/layers/file", "version": "1"}));
    layer_attrs["format"] = json!("layer");
    layer_attrs["aci"]["packages"] = json!([file]);
    layer_attrs["aci"].as_object_mut().unwrap().remove("exec");
    layer_attrs["closure"] = json!([layer_attrs["closure"][2].clone()]);
    let layer = PathBuf::from(s.path("3c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "file-layer-1"));
    let o = run_build(&s, &layer_attrs, &layer);
    assert!(o.status.success(), "layer: {}", String::from_utf8_lossy(&o.stderr));
    let index: Value = serde_json::from_slice(&std::fs::read(layer.join("nix2aci.json")).unwrap()).unwrap();
    assert_eq!(index["artifacts"][0]["kind"], "dependency-aci");
    assert_eq!(index["artifacts"][0]["storePaths"], json!([file]));
    let layer_aci = layer.join("file-1-linux-amd64.aci");
    assert_eq!(index["artifacts"][0]["size"].as_u64().unwrap(), std::fs::metadata(&layer_aci).unwrap().len());
    let lm: Value = serde_json::from_slice(&std::fs::read(layer.join("file-1-linux-amd64.manifest")).unwrap()).unwrap();
    assert!(lm.get("app").is_none(), "a layer has no app: {lm}");
    // Its own closure SBOM: every path inside it, pinned by its manifest;
    // inspect --sbom prints it.
    let layer_sbom = "file-1-linux-amd64.closure.json";
    assert_eq!(index["artifacts"][0]["files"]["sbom"], layer_sbom);
    let sbom_bytes = std::fs::read(layer.join(layer_sbom)).unwrap();
    let sbom: Value = serde_json::from_slice(&sbom_bytes).unwrap();
    assert_eq!(sbom["image"]["kind"], "dependency-aci", "{sbom}");
    assert_eq!(sbom["image"]["name"], "example.com/layers/file");
    assert_eq!(sbom["packages"], json!([file]));
    let placed: Vec<(&str, &str)> = sbom["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["path"].as_str().unwrap(), p["placement"]["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(placed, [(file.as_str(), "contents")]);
    assert_eq!(annotation(&lm, PIN), Some(format!("sha256-{}", sha256_hex(&sbom_bytes)).as_str()));
    let o = Command::new(MKACI).arg("inspect").arg("--sbom").arg(&layer_aci).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, sbom_bytes);
    if need("actool") {
        actool_validate(&layer_aci);
    }

    let out = build_ok(&s, json!({"layered": true, "layers": [layer.to_str().unwrap()]}));
    assert_eq!(std::fs::read_link(out.join("file-1-linux-amd64.aci")).unwrap(), layer_aci);
    assert_eq!(std::fs::read_link(out.join(layer_sbom)).unwrap(), layer.join(layer_sbom));
    let app = &index_images(&out, "aci")[0];
    let m = manifest_of(&out, app);
    let deps = m["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 3, "the layer, busybox and conf: {m}");
    assert_eq!(deps[0]["imageName"], "example.com/layers/file");
    assert_eq!(deps[0]["labels"].as_array().unwrap().len(), 3, "os, arch and version");
    assert!(deps[1..].iter().all(|d| !d["imageName"].as_str().unwrap().contains("-file")));
    let rendered = s.tmp.path().join("rendered");
    render(&out, &rendered);
    assert_eq!(
        std::fs::read_to_string(rendered.join("rootfs").join(file.trim_start_matches('/'))).unwrap(),
        "single file\n"
    );

    // Without layered = true: the image holds the rest of the closure itself.
    let out = build_ok(&s, json!({"layers": [layer.to_str().unwrap()]}));
    let app = &index_images(&out, "aci")[0];
    assert_eq!(manifest_of(&out, app)["dependencies"].as_array().unwrap().len(), 1);
    let x = s.tmp.path().join("x");
    extract(app, &x);
    assert!(!x.join("rootfs").join(file.trim_start_matches('/')).exists(), "the layer's path is in the image too");
    assert!(x.join("rootfs").join(s.path(H_BUSYBOX, "busybox").trim_start_matches('/')).join("bin/busybox").exists());
}

/// The attrs of a cached per-path dependency image of `path` (one of the
/// fake store's), named under `prefix`.
fn path_layer_attrs(s: &Store, path: &str, prefix: &str) -> Value {
    let mut a = attrs(s, json!({"os": "linux", "arch": "amd64", "layerPrefix": prefix}));
    a["format"] = json!("path-layer");
    a["aci"] = json!({"packages": [path], "os": "linux", "arch": "amd64", "layerPrefix": prefix});
    a
}

#[test]
fn cached_layers_give_the_same_layered_image() {
    let s = store();
    let conf = s.path(H_CONF, "conf");
    let prefix = "example.com/deps";
    // The layer plan: every path, in the order of the app's dependencies.
    let mut plan_attrs = attrs(&s, json!({"os": "linux", "arch": "amd64"}));
    plan_attrs["format"] = json!("layer-plan");
    let plan_out = s.tmp.path().join("plan");
    let o = run_build(&s, &plan_attrs, &plan_out);
    assert!(o.status.success(), "plan: {}", String::from_utf8_lossy(&o.stderr));
    let plan: Value = serde_json::from_slice(&std::fs::read(plan_out.join("layers.json")).unwrap()).unwrap();
    let planned: Vec<String> =
        plan["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    assert_eq!(planned.len(), 3, "{plan}");

    // One cached layer per path, each in a store path of its own.
    let mut cached = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let out = PathBuf::from(s.path(&format!("{i}d7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4"), "aci-layer"));
        let o = run_build(&s, &path_layer_attrs(&s, p, prefix), &out);
        assert!(o.status.success(), "path layer {p}: {}", String::from_utf8_lossy(&o.stderr));
        cached.push(out.to_str().unwrap().to_string());
    }
    let plain = build_ok(&s, json!({"layered": true, "layerPrefix": prefix}));
    let plain_copy = s.tmp.path().join("plain");
    std::fs::rename(&plain, &plain_copy).unwrap();
    let out = build_ok(&s, json!({"layered": true, "layerPrefix": prefix, "cachedLayers": cached}));
    // The same index and the same bytes; the dependencies are links.
    assert_eq!(
        std::fs::read(out.join("nix2aci.json")).unwrap(),
        std::fs::read(plain_copy.join("nix2aci.json")).unwrap()
    );
    let deps = index_images(&out, "dependency-aci");
    assert_eq!(deps.len(), 3);
    for f in index_images(&out, "aci").iter().chain(&deps) {
        let name = f.file_name().unwrap();
        assert_eq!(std::fs::read(f).unwrap(), std::fs::read(plain_copy.join(name)).unwrap(), "{}", f.display());
    }
    assert!(deps.iter().all(|d| std::fs::symlink_metadata(d).unwrap().file_type().is_symlink()));
    let m = manifest_of(&out, &index_images(&out, "aci")[0]);
    let order: Vec<&str> =
        m["dependencies"].as_array().unwrap().iter().map(|d| d["imageName"].as_str().unwrap()).collect();
    let want: Vec<String> =
        planned.iter().map(|p| format!("{prefix}/{}", Path::new(p).file_name().unwrap().to_str().unwrap())).collect();
    assert_eq!(order, want, "the plan's order is the app's");

    // Refused: a layer of another prefix, a layer the image has no use
    // for, cached layers without layered = true.
    let other = PathBuf::from(s.path("9d7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "aci-layer"));
    let o = run_build(&s, &path_layer_attrs(&s, &conf, "example.com/other"), &other);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = s.tmp.path().join("bad");
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"layered": true, "layerPrefix": prefix, "cachedLayers": [other.to_str().unwrap()]}),
            &["cachedLayers[0] is the image example.com/other/", "example.com/deps/", "another layerPrefix"],
        ),
        (
            json!({"layered": true, "layerPrefix": prefix, "packages": [s.path(H_BUSYBOX, "busybox")], "cachedLayers": [cached[0].clone(), cached[1].clone(), cached[2].clone()]}),
            &["cachedLayers[", "gets no per-path dependency image of its own here"],
        ),
        (json!({"cachedLayers": [cached[0].clone()]}), &["cachedLayers is given but layered is not true"]),
    ];
    for (aci, needles) in cases {
        let mut a = attrs(&s, aci.clone());
        if aci.get("packages").is_some() {
            // busybox alone: its closure is busybox.
            a["closure"] = json!([a["closure"][0].clone()]);
        }
        let o = run_build(&s, &a, &bad);
        common::assert_fails_with(&o, needles);
        assert!(!bad.exists(), "{aci}: a refused build left {}", bad.display());
    }
}

#[test]
fn layered_refusals_name_the_argument() {
    let s = store();
    let out = s.tmp.path().join("result");
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({"thin": true, "layered": true}), &["thin = true and layered = true"]),
        (json!({"layerPrefix": "example.com/deps"}), &["layerPrefix is given but layered is not true"]),
        (json!({"layered": true, "layerPrefix": "Bad Prefix"}), &["layerPrefix = \"Bad Prefix\"", "AC Identifier"]),
        (json!({"layers": [s.path(H_FILE, "file")]}), &["layers[0]", "is not a layer", "nix2aci.json"]),
        (json!({"layers": ["/elsewhere/x"]}), &["layers[0] = \"/elsewhere/x\" is not a store path"]),
    ];
    for (aci, needles) in cases {
        let o = run_build(&s, &attrs(&s, aci.clone()), &out);
        common::assert_fails_with(&o, needles);
        assert!(!out.exists(), "{aci}: a refused build left {}", out.display());
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

const SBOM: &str = "busybox-1.35.0-linux-amd64.closure.json";
const PIN: &str = "nix2aci.org/closure-sha256";

/// The value of annotation `name` in a manifest.
fn annotation<'a>(manifest: &'a Value, name: &str) -> Option<&'a str> {
    manifest["annotations"].as_array()?.iter().find(|a| a["name"] == name)?["value"].as_str()
}

/// Every result has `<base>.closure.json`: each closure path with what Nix
/// reported, its name and version and its placement; the index lists it, and
/// the manifest inside the image (and its copy) pins its SHA-256.
#[test]
fn closure_sbom_is_written_and_pinned() {
    let s = store();
    let (bb, conf, file) = (s.path(H_BUSYBOX, "busybox"), s.path(H_CONF, "conf"), s.path(H_FILE, "file"));
    let out = build_ok(&s, json!({"labels": {"team": "infra"}}));
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("nix2aci.json")).unwrap()).unwrap();
    assert_eq!(index["artifacts"][0]["files"]["sbom"], SBOM);
    let bytes = std::fs::read(out.join(SBOM)).unwrap();
    let sbom: Value = serde_json::from_slice(&bytes).unwrap();
    let closure = attrs(&s, json!({}))["closure"].clone();
    let nar = |i: usize| closure[i]["narHash"].clone();
    assert_eq!(
        sbom,
        json!({
            "nix2aciClosure": 1,
            "image": {"kind": "aci", "name": "busybox", "version": "1.35.0", "os": "linux", "arch": "amd64",
                      "labels": {"team": "infra"}},
            "storeDir": s.dir.to_str().unwrap(),
            "packages": [bb, conf],
            "paths": [
                {"path": bb, "name": "busybox", "version": null, "narHash": nar(0), "narSize": 1,
                 "references": [], "placement": {"kind": "contents"}},
                {"path": conf, "name": "conf", "version": null, "narHash": nar(1), "narSize": 1,
                 "references": [bb, file], "placement": {"kind": "contents"}},
                {"path": file, "name": "file", "version": null, "narHash": nar(2), "narSize": 1,
                 "references": [], "placement": {"kind": "contents"}},
            ]
        })
    );
    let pin = format!("sha256-{}", sha256_hex(&bytes));
    let copy: Value =
        serde_json::from_slice(&std::fs::read(out.join("busybox-1.35.0-linux-amd64.manifest")).unwrap()).unwrap();
    assert_eq!(annotation(&copy, PIN), Some(pin.as_str()));
    let x = s.tmp.path().join("x");
    extract(&out.join("busybox-1.35.0-linux-amd64.aci"), &x);
    let inside: Value = serde_json::from_slice(&std::fs::read(x.join("manifest")).unwrap()).unwrap();
    assert_eq!(inside, copy);
    // Annotations stay in name order.
    let names: Vec<&str> =
        inside["annotations"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["created", PIN]);

    // inspect --sbom prints exactly the file, once it matches the pin.
    let image = out.join("busybox-1.35.0-linux-amd64.aci");
    let o = Command::new(MKACI).arg("inspect").arg("--sbom").arg(&image).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, bytes);
    assert!(String::from_utf8_lossy(&o.stderr).contains(&pin));

    // Beside a copy of the image: a changed SBOM, or none, is refused, naming
    // the file, both hashes and the fix.
    let pub_dir = s.tmp.path().join("pub");
    std::fs::create_dir_all(&pub_dir).unwrap();
    let copied = pub_dir.join("busybox-1.35.0-linux-amd64.aci");
    std::fs::copy(&image, &copied).unwrap();
    let inspect = || Command::new(MKACI).arg("inspect").arg("--sbom").arg(&copied).output().unwrap();
    let o = inspect();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    for needle in [&pub_dir.join(SBOM).display().to_string(), &pin, "cannot be read", "postprocess.sh"] {
        assert!(err.contains(needle), "lacks {needle}: {err}");
    }
    let tampered = String::from_utf8(bytes.clone()).unwrap().replace("\"conf\"", "\"c0nf\"");
    std::fs::write(pub_dir.join(SBOM), &tampered).unwrap();
    let o = inspect();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    let actual = format!("sha256-{}", sha256_hex(tampered.as_bytes()));
    for needle in [&pub_dir.join(SBOM).display().to_string(), &pin, &actual, "was changed", "postprocess.sh"] {
        assert!(err.contains(needle), "lacks {needle}: {err}");
    }
    assert!(o.stdout.is_empty(), "a refused SBOM is not printed");
    std::fs::write(pub_dir.join(SBOM), &bytes).unwrap();
    assert_eq!(inspect().stdout, bytes);
}

/// A thin image's SBOM places each path at its `nix-<hash>` mount point,
/// the names the manifest and `.mounts` use.
#[test]
fn thin_sbom_names_the_mounts() {
    let s = store();
    let out = build_ok(&s, json!({"thin": true}));
    let sbom: Value = serde_json::from_slice(&std::fs::read(out.join(SBOM)).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("busybox-1.35.0-linux-amd64.manifest")).unwrap()).unwrap();
    let mounts: Vec<(&str, &str)> = manifest["app"]["mountPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["path"].as_str().unwrap(), m["name"].as_str().unwrap()))
        .collect();
    let placed: Vec<(&str, &str)> = sbom["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["placement"]["kind"], "thin-mount", "{p}");
            (p["path"].as_str().unwrap(), p["placement"]["mount"].as_str().unwrap())
        })
        .collect();
    assert_eq!(placed, mounts);
    assert_eq!(placed[0].1, format!("nix-{H_BUSYBOX}"));
    let bytes = std::fs::read(out.join(SBOM)).unwrap();
    assert_eq!(annotation(&manifest, PIN), Some(format!("sha256-{}", sha256_hex(&bytes)).as_str()));
}

/// The pin's name is mkaci's: a user annotation of that name is refused.
#[test]
fn the_pin_annotation_is_reserved() {
    let s = store();
    let out = s.tmp.path().join("reserved");
    let o = run_build(&s, &attrs(&s, json!({"annotations": {PIN: "sha256-00"}})), &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    for needle in [&format!("annotations.{PIN}"), "reserved", "closure SBOM", "remove it"] {
        assert!(err.contains(needle), "lacks {needle}: {err}");
    }
    assert!(!out.exists());
}

/// Inside a Nix build, Nix's `cores` setting (NIX_BUILD_CORES) gives the
/// number of compression threads; 0 means every core, `--threads` wins, and
/// a value that is no number is refused, naming the variable, before
/// anything is written.
#[test]
fn nix_build_cores_sets_the_threads() {
    let s = store();
    let file = s.tmp.path().join("attrs.json");
    std::fs::write(&file, serde_json::to_vec(&attrs(&s, json!({}))).unwrap()).unwrap();
    let run = |cores: &str, threads: Option<&str>, name: &str| {
        let mut c = Command::new(MKACI);
        c.args(["build", "--attrs"]).arg(&file).arg("--out").arg(s.tmp.path().join(name));
        if let Some(t) = threads {
            c.args(["--threads", t]);
        }
        c.env("NIX_BUILD_CORES", cores).output().unwrap()
    };
    let threads_of = |o: &Output| {
        assert!(o.status.success(), "{}", common::stderr(o));
        let err = common::stderr(o);
        let stats = err.lines().find(|l| l.starts_with("mkaci: stats ")).expect("a stats line").to_string();
        stats.split(' ').find_map(|f| f.strip_prefix("threads=")).expect("threads= in the stats line").to_string()
    };
    assert_eq!(threads_of(&run("1", None, "one")), "1");
    assert_eq!(threads_of(&run("3", None, "three")), "3");
    let all = std::thread::available_parallelism().unwrap().get().to_string();
    assert_eq!(threads_of(&run("0", None, "all")), all);
    assert_eq!(threads_of(&run("1", Some("2"), "flag")), "2");
    // The same bytes whatever the count.
    let image = "busybox-1.35.0-linux-amd64.aci";
    let read = |d: &str| std::fs::read(s.tmp.path().join(d).join(image)).unwrap();
    assert!(read("one") == read("three") && read("one") == read("all"));

    let o = run("many", None, "bad");
    common::assert_fails_with(&o, &["NIX_BUILD_CORES = \"many\"", "cores", "--threads"]);
    assert!(!s.tmp.path().join("bad").exists(), "a refused build left its output");
}

/// `mkaci build` with neither --attrs nor --out, as the builder: it finds the
/// attrs where each Nix the suite runs under leaves them (docs/nix-versions.md)
/// and writes `outputs.out`.
/// - Nix 2.35: `NIX_ATTRS_JSON_FILE=/build/.attrs.json`, a file that exists.
/// - Nix 2.8: `NIX_ATTRS_JSON_FILE` names the host's build directory
///   (`/tmp/nix-build-<name>.drv-0/.attrs.json`), absent inside the sandbox;
///   the attrs are `$NIX_BUILD_TOP/.attrs.json`.
///
/// The closure entries carry what 2.35 adds (`valid`, with `closureSize` and
/// `ca` as 2.8 has them too).
#[test]
fn finds_the_attrs_where_each_nix_leaves_them() {
    let s = store();
    let top = s.tmp.path().join("build");
    std::fs::create_dir_all(&top).unwrap();
    let mut a = attrs(&s, json!({}));
    for entry in a["closure"].as_array_mut().unwrap() {
        entry["closureSize"] = json!(1);
        entry["valid"] = json!(true);
    }
    a["closure"][2]["ca"] = json!("text:sha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d");
    let builder = |out: &Path, attrs_file: Option<&Path>, build_top: Option<&Path>| {
        let mut a = a.clone();
        a["outputs"]["out"] = json!(out.to_str().unwrap());
        std::fs::write(top.join(".attrs.json"), serde_json::to_vec(&a).unwrap()).unwrap();
        let mut cmd = Command::new(MKACI);
        cmd.arg("build").env_remove("NIX_ATTRS_JSON_FILE").env_remove("NIX_BUILD_TOP");
        if let Some(f) = attrs_file {
            cmd.env("NIX_ATTRS_JSON_FILE", f);
        }
        if let Some(t) = build_top {
            cmd.env("NIX_BUILD_TOP", t);
        }
        cmd.output().unwrap()
    };
    let image = "busybox-1.35.0-linux-amd64.aci";

    // Nix 2.35: the variable names the file.
    let out = s.tmp.path().join("out-2.35");
    let o = builder(&out, Some(&top.join(".attrs.json")), Some(&top));
    assert!(o.status.success(), "Nix 2.35 layout: {}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(out.join(image)).unwrap();

    // Nix 2.8: the variable names a host path; NIX_BUILD_TOP has the file.
    let out = s.tmp.path().join("out-2.8");
    let host = Path::new("/tmp/nix-build-busybox-aci-1.35.0.drv-0/.attrs.json");
    assert!(!host.exists());
    let o = builder(&out, Some(host), Some(&top));
    assert!(o.status.success(), "Nix 2.8 layout: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(out.join(image)).unwrap(), bytes, "another image from the same attrs");

    // Where both exist, NIX_ATTRS_JSON_FILE wins.
    let elsewhere = s.tmp.path().join("attrs-elsewhere.json");
    let out = s.tmp.path().join("out-elsewhere");
    let mut b = a.clone();
    b["outputs"]["out"] = json!(out.to_str().unwrap());
    std::fs::write(&elsewhere, serde_json::to_vec(&b).unwrap()).unwrap();
    let o = builder(&s.tmp.path().join("out-not-this"), Some(&elsewhere), Some(&top));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join(image).is_file() && !s.tmp.path().join("out-not-this").exists());

    // Neither: the error names what was tried and what to do.
    let o = builder(&s.tmp.path().join("out-none"), Some(host), Some(&s.tmp.path().join("empty")));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("NIX_ATTRS_JSON_FILE={}", host.display())), "{err}");
    assert!(err.contains("empty/.attrs.json") && err.contains("__structuredAttrs = true"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = builder(&s.tmp.path().join("out-none"), None, None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither NIX_ATTRS_JSON_FILE nor NIX_BUILD_TOP is set"));
}
