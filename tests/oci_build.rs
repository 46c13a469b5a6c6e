//! `mkaci build` with `format = "oci"` end to end, standing in for the
//! sandbox (a store in a temporary directory, real busybox-static): the
//! layout's blobs match their digests, the config's diff_ids match the
//! uncompressed layers, one layer per store path in popularity order plus the
//! top-level layer, bytes independent of the thread count, refusals named;
//! and `mkaci postprocess` writes a docker-archive and a link to the layout;
//! `mkaci verify` checks every digest of both.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkaci::archive::digest;
use mkaci::formats::oci::read_layout;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MKACI: &str = env!("CARGO_BIN_EXE_mkaci");
const H_BUSYBOX: &str = "0c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";
const H_CONF: &str = "1c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";
const H_FILE: &str = "2c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";
const H_LIB: &str = "3c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";

type Store = common::FakeStore;

/// busybox (references lib), conf (etc/motd; references busybox, file, lib),
/// file (a single file; references lib), lib (referenced by all).
fn store() -> Store {
    let s = Store::new();
    s.add_busybox(H_BUSYBOX, &["sh"]);
    let conf = PathBuf::from(s.path(H_CONF, "conf"));
    std::fs::create_dir_all(conf.join("etc")).unwrap();
    std::fs::write(conf.join("etc/motd"), "welcome\n").unwrap();
    std::fs::write(s.path(H_FILE, "file"), "single file\n").unwrap();
    let lib = PathBuf::from(s.path(H_LIB, "lib"));
    std::fs::create_dir_all(lib.join("lib")).unwrap();
    std::fs::write(lib.join("lib/libx.so"), vec![7u8; 3 << 20]).unwrap();
    s
}

fn attrs(s: &Store, aci: Value, oci: Value) -> Value {
    let (bb, conf, file, lib) =
        (s.path(H_BUSYBOX, "busybox"), s.path(H_CONF, "conf"), s.path(H_FILE, "file"), s.path(H_LIB, "lib"));
    let mut spec = json!({
        "defaultName": "busybox",
        "version": "1.35.0",
        "packages": [bb, conf],
        "exec": ["/bin/sh", "-c", "echo hi"],
        "dnsquirks": true,
        "mounts": {"data": "/var/lib/data"},
        "env": {"PATH": "/bin"},
    });
    for (k, v) in aci.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let mut o = json!({"tag": "1.35.0", "maxLayers": 100});
    for (k, v) in oci.as_object().unwrap() {
        o[k] = v.clone();
    }
    json!({
        "outputs": {"out": "/unused"},
        "system": "x86_64-linux",
        "storeDir": s.dir.to_str().unwrap(),
        "closure": [
            {"path": bb, "references": [lib]},
            {"path": conf, "references": [bb, file, lib]},
            {"path": file, "references": [lib]},
            {"path": lib, "references": [lib]},
        ],
        "mkaci": "/nix/store/00000000000000000000000000000000-mkaci/bin/mkaci",
        "format": "oci",
        "oci": o,
        "aci": spec,
    })
}

fn run_build(s: &Store, attrs: &Value, out: &Path, threads: &str) -> Output {
    let file = s.tmp.path().join("attrs.json");
    std::fs::write(&file, serde_json::to_vec(attrs).unwrap()).unwrap();
    Command::new(MKACI)
        .args(["build", "--threads", threads, "--attrs"])
        .arg(&file)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn build_ok(s: &Store, aci: Value, oci: Value, name: &str) -> PathBuf {
    let out = s.tmp.path().join(name);
    let o = run_build(s, &attrs(s, aci, oci), &out, "0");
    assert!(o.status.success(), "build failed: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// The paths in a layer blob (gzip, zstd or plain tar), and the SHA-256 of
/// its tar.
fn layer_entries(blob: &Path) -> (Vec<String>, String) {
    let bytes = std::fs::read(blob).unwrap();
    let tar_bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out).unwrap();
        out
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(bytes.as_slice()).unwrap()
    } else {
        bytes
    };
    let diff_id = format!("sha256:{}", common_hex(&Sha256::digest(&tar_bytes)));
    let mut a = tar::Archive::new(tar_bytes.as_slice());
    let names = a.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    (names, diff_id)
}

fn common_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn oci_layout_has_a_layer_per_store_path_and_a_top_layer() {
    let s = store();
    let out = build_ok(&s, json!({}), json!({}), "result");
    let index: Value = serde_json::from_slice(&std::fs::read(out.join("nix2aci.json")).unwrap()).unwrap();
    let a = &index["artifacts"][0];
    assert_eq!(a["kind"], "oci-layout");
    assert_eq!(a["files"]["layout"], "busybox-1.35.0-linux-amd64.oci");
    assert_eq!(a["layers"], 5);
    let lay = out.join("busybox-1.35.0-linux-amd64.oci");
    let r = read_layout(&lay, "1.35.0").unwrap();
    assert_eq!(r.manifest_descriptor.digest.to_string(), a["digests"]["manifest"]);
    assert_eq!(r.manifest.config.digest.to_string(), a["digests"]["config"]);
    assert_eq!(r.manifest.layers.len(), 5);
    let rel = s.dir.strip_prefix("/").unwrap().to_string_lossy().into_owned();
    let mut tops = Vec::new();
    for (i, (l, diff_id)) in r.manifest.layers.iter().zip(&r.config.rootfs.diff_ids).enumerate() {
        let blob = r.blob_path(&l.digest);
        let bytes = std::fs::read(&blob).unwrap();
        assert_eq!(digest::of_bytes(&bytes), l.digest, "layer {i}");
        assert_eq!(bytes.len() as u64, l.size);
        assert_eq!(l.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        let (names, computed) = layer_entries(&blob);
        assert_eq!(computed, diff_id.to_string(), "layer {i}'s diff_id");
        // The store paths in it, by their last component.
        tops.push(
            names
                .iter()
                .filter_map(|n| n.trim_end_matches('/').strip_prefix(&format!("{rel}/")))
                .filter(|n| !n.contains('/'))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
        if i == 4 {
            for want in ["bin/sh", "etc/motd", "etc/hosts", "tmp/", "var/lib/data/"] {
                assert!(names.iter().any(|n| n == want), "top layer lacks {want}: {names:?}");
            }
        }
    }
    // lib (referenced by all four) first, then busybox and file (two each,
    // in hash order), then conf; the top layer has no store path.
    let base = |h: &str, n: &str| vec![format!("{h}-{n}")];
    assert_eq!(
        tops,
        vec![base(H_LIB, "lib"), base(H_BUSYBOX, "busybox"), base(H_FILE, "file"), base(H_CONF, "conf"), vec![]]
    );
    let c = &r.config;
    assert_eq!((c.os.as_str(), c.architecture.as_str()), ("linux", "amd64"));
    assert_eq!(c.config.entrypoint, ["/bin/sh"]);
    assert_eq!(c.config.cmd, ["-c", "echo hi"]);
    assert_eq!(c.config.env, ["PATH=/bin"]);
    assert!(c.config.volumes.contains_key("/var/lib/data"));
    assert_eq!(c.history.len(), 5);
    // The closure SBOM beside the layout, pinned by a config label (and no
    // manifest annotation); every path is in the layers.
    assert_eq!(a["files"]["sbom"], "busybox-1.35.0-linux-amd64.closure.json");
    let sbom_bytes = std::fs::read(out.join("busybox-1.35.0-linux-amd64.closure.json")).unwrap();
    let pin = format!("sha256-{}", digest::hex(&digest::of_bytes(&sbom_bytes)));
    assert_eq!(c.config.labels.get("nix2aci.org/closure-sha256"), Some(&pin));
    let manifest_blob = std::fs::read(r.blob_path(&r.manifest_descriptor.digest)).unwrap();
    assert!(!String::from_utf8_lossy(&manifest_blob).contains("nix2aci.org"), "the pin is a label, not an annotation");
    let sbom: Value = serde_json::from_slice(&sbom_bytes).unwrap();
    assert_eq!(sbom["image"]["kind"], "oci-layout");
    assert_eq!((sbom["image"]["os"].as_str(), sbom["image"]["arch"].as_str()), (Some("linux"), Some("amd64")));
    assert_eq!(sbom["paths"].as_array().unwrap().len(), 4);
    assert!(sbom["paths"].as_array().unwrap().iter().all(|p| p["placement"] == json!({"kind": "contents"})));

    // The same bytes with one thread.
    let again = s.tmp.path().join("again");
    let o = run_build(&s, &attrs(&s, json!({}), json!({})), &again, "1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tree(&out), tree(&again));

    // maxLayers = 3: lib and busybox alone, file and conf together.
    let grouped = build_ok(&s, json!({"compression": "none"}), json!({"maxLayers": 3}), "grouped");
    let r = read_layout(&grouped.join("busybox-1.35.0-linux-amd64.oci"), "1.35.0").unwrap();
    assert_eq!(r.manifest.layers.len(), 3);
    assert_eq!(r.manifest.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(r.manifest.layers[0].digest, r.config.rootfs.diff_ids[0]);
    let (names, _) = layer_entries(&r.blob_path(&r.manifest.layers[1].digest));
    assert!(names.iter().any(|n| n.ends_with(&format!("{H_CONF}-conf/"))), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(&format!("{H_FILE}-file"))), "{names:?}");
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "postprocess.sh" {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// compression = "zstd": every layer is tar+zstd, unpacks to the same tar
/// (the same diff_ids) as the gzip image's, the layout is the same bit for
/// bit with 1 thread and with all, and `mkaci verify` checks it.
#[test]
fn zstd_layers_hold_the_same_tars_as_gzip_ones() {
    let s = store();
    let gz = build_ok(&s, json!({}), json!({}), "gzip");
    let zs = build_ok(&s, json!({"compression": "zstd", "compressionLevel": 5}), json!({}), "zstd");
    let lay = "busybox-1.35.0-linux-amd64.oci";
    let (g, z) = (read_layout(&gz.join(lay), "1.35.0").unwrap(), read_layout(&zs.join(lay), "1.35.0").unwrap());
    assert_eq!(g.config.rootfs.diff_ids, z.config.rootfs.diff_ids, "the diff_ids do not depend on the compression");
    for (l, diff_id) in z.manifest.layers.iter().zip(&z.config.rootfs.diff_ids) {
        assert_eq!(l.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        let (_, computed) = layer_entries(&z.blob_path(&l.digest));
        assert_eq!(computed, diff_id.to_string());
    }
    // One frame per 2 MiB chunk of tar (the 3 MiB library's layer has two).
    let mut frames_seen = 0;
    for l in &z.manifest.layers {
        let bytes = std::fs::read(z.blob_path(&l.digest)).unwrap();
        let tar_len = zstd::decode_all(bytes.as_slice()).unwrap().len();
        let (mut rest, mut frames) = (&bytes[..], 0);
        while !rest.is_empty() {
            rest = &rest[zstd::zstd_safe::find_frame_compressed_size(rest).unwrap()..];
            frames += 1;
        }
        assert_eq!(frames, tar_len.div_ceil(mkaci::archive::CHUNK_SIZE), "{}", l.digest);
        frames_seen += frames;
    }
    assert!(frames_seen > z.manifest.layers.len(), "no layer spans two chunks");
    let again = s.tmp.path().join("zstd-1");
    let o = run_build(&s, &attrs(&s, json!({"compression": "zstd", "compressionLevel": 5}), json!({})), &again, "1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tree(&zs), tree(&again));
    let v = verify(&zs.join(lay));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // Out of range, named.
    let out = s.tmp.path().join("bad-level");
    let o = run_build(&s, &attrs(&s, json!({"compression": "zstd", "compressionLevel": 23}), json!({})), &out, "0");
    assert!(String::from_utf8_lossy(&o.stderr).contains("compressionLevel: 23 is outside 1..=22 for zstd"));
    assert!(!out.exists());
}

#[test]
fn oci_refusals_name_the_argument() {
    let s = store();
    let cases = [
        (json!({"thin": true}), json!({}), "thin: true has no meaning in an OCI image"),
        (json!({"isolators": {"os/linux/no-new-privileges": true}}), json!({}), "isolators: "),
        (json!({"compression": "xz"}), json!({}), "compression: \"xz\" is not an OCI layer compression"),
        (json!({}), json!({"tag": "a+b"}), "tag: \"a+b\" is not a valid OCI tag"),
        (json!({}), json!({"maxLayers": 1}), "maxLayers: 1 is too small"),
        (json!({"exec": ["/bin/nope"]}), json!({}), "exec[0] = \"/bin/nope\""),
        (
            json!({"ports": [{"name": "http", "protocol": "tcp", "port": 80, "socketActivated": true}]}),
            json!({}),
            "ports: the port \"http\" is socket-activated",
        ),
        (json!({}), json!({"dirName": "x.oci"}), "computed the layout name \"x.oci\""),
        (
            json!({"labels": {"nix2aci.org/closure-sha256": "x"}}),
            json!({}),
            "labels.nix2aci.org/closure-sha256: \"nix2aci.org/closure-sha256\" is reserved",
        ),
    ];
    for (aci, oci, needle) in cases {
        let out = s.tmp.path().join("refused");
        let o = run_build(&s, &attrs(&s, aci.clone(), oci.clone()), &out, "0");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{aci} {oci} was accepted");
        assert!(err.contains(needle), "{aci} {oci}: {err}");
        assert!(!out.exists(), "a refused build left {out:?}");
    }
}

#[test]
fn postprocess_writes_a_docker_archive_and_links_the_layout() {
    let s = store();
    let out = build_ok(&s, json!({}), json!({}), "result");
    let dir = s.tmp.path().join("OCI");
    let o = Command::new(MKACI).arg("postprocess").arg("--").arg(&dir).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "postprocess failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("OCI images are not signed"), "{stdout}");
    assert!(stdout.contains("podman load -i"), "{stdout}");
    let lay = dir.join("busybox-1.35.0-linux-amd64.oci");
    assert_eq!(
        std::fs::read_link(&lay).unwrap(),
        std::fs::canonicalize(&out).unwrap().join("busybox-1.35.0-linux-amd64.oci")
    );
    assert!(!dir.join("pubkeys.gpg").exists());
    assert_eq!(
        std::fs::read_link(dir.join("busybox-1.35.0-linux-amd64.closure.json")).unwrap(),
        std::fs::canonicalize(&out).unwrap().join("busybox-1.35.0-linux-amd64.closure.json")
    );
    assert!(stdout.contains("(the closure SBOM)"), "{stdout}");
    let archive = std::fs::read(dir.join("busybox-1.35.0-linux-amd64.docker.tar")).unwrap();
    let mut a = tar::Archive::new(archive.as_slice());
    let mut files = std::collections::BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        files.insert(e.path().unwrap().to_string_lossy().into_owned(), b);
    }
    let r = read_layout(&lay, "1.35.0").unwrap();
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config = format!("{}.json", digest::hex(&r.manifest.config.digest));
    assert_eq!(manifest[0]["Config"], config);
    assert_eq!(manifest[0]["RepoTags"], json!(["busybox:1.35.0"]));
    assert_eq!(files[&config], r.config_bytes);
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), r.manifest.layers.len());
    for (name, l) in layers.iter().zip(&r.manifest.layers) {
        assert_eq!(digest::of_bytes(&files[name.as_str().unwrap()]), l.digest);
    }
    // Again, with --copy: a directory replaces the link.
    let o = Command::new(MKACI).args(["postprocess", "--copy", "--"]).arg(&dir).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::symlink_metadata(&lay).unwrap().is_dir());
    assert_eq!(read_layout(&lay, "1.35.0").unwrap().manifest_descriptor, r.manifest_descriptor);
    // And back to a link.
    let o = Command::new(MKACI).arg("postprocess").arg("--").arg(&dir).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::symlink_metadata(&lay).unwrap().file_type().is_symlink());

    // inspect --sbom on the published layout prints the SBOM beside it once
    // it matches the config label, and refuses a changed one.
    let sbom = dir.join("busybox-1.35.0-linux-amd64.closure.json");
    let bytes = std::fs::read(&sbom).unwrap();
    let inspect = || Command::new(MKACI).args(["inspect", "--sbom"]).arg(&lay).output().unwrap();
    let o = inspect();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, bytes);
    std::fs::remove_file(&sbom).unwrap();
    std::fs::write(&sbom, String::from_utf8(bytes).unwrap().replace("\"busybox\"", "\"b\"")).unwrap();
    let o = inspect();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty());
    assert!(err.contains("was changed") && err.contains(&sbom.display().to_string()), "{err}");
}

/// A store path whose contents differ from its narHash fails an OCI build too,
/// naming the path and both hashes, and leaves no result.
#[test]
fn oci_layers_check_store_paths_against_their_nar_hash() {
    let s = store();
    let lib = s.path(H_LIB, "lib");
    let mut a = attrs(&s, json!({}), json!({}));
    // Every closure entry with its real NAR hash.
    for entry in a["closure"].as_array_mut().unwrap() {
        let p = entry["path"].as_str().unwrap().to_string();
        entry["narHash"] = json!(mkaci::nix::nar::nar_hash_of(Path::new(&p)).unwrap().to_string());
    }
    let out = s.tmp.path().join("ok");
    let o = run_build(&s, &a, &out, "2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = mkaci::nix::nar::nar_hash_of(Path::new(&lib)).unwrap().to_string();
    // One byte changed, same size: only the hash can tell.
    let so = PathBuf::from(&lib).join("lib/libx.so");
    let mut bytes = std::fs::read(&so).unwrap();
    bytes[1 << 20] ^= 1;
    std::fs::write(&so, bytes).unwrap();
    let actual = mkaci::nix::nar::nar_hash_of(Path::new(&lib)).unwrap().to_string();
    let out = s.tmp.path().join("corrupt");
    let o = run_build(&s, &a, &out, "2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a corrupted store path was packed into a layer");
    for needle in [&lib, &expected, &actual] {
        assert!(err.contains(needle.as_str()), "message lacks {needle}: {err}");
    }
    assert!(!out.exists(), "left {}", out.display());
}

fn verify(path: &Path) -> Output {
    Command::new(MKACI).arg("verify").arg(path).output().unwrap()
}

/// The members of a tar, in order.
fn members(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), b)
        })
        .collect()
}

fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o444);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `mkaci verify` on a published OCI layout and its docker-archive: every
/// blob against its descriptor, every layer against its diff_id, the
/// archive against the layout beside it, the SBOM against the config
/// label; a changed layer, a swapped archive layer and a directory that is
/// no layout are refused with the file, both digests and the fix.
#[test]
fn verify_checks_every_digest_of_a_layout_and_its_docker_archive() {
    let s = store();
    let out = build_ok(&s, json!({}), json!({}), "result");
    let dir = s.tmp.path().join("OCI");
    let o = Command::new(MKACI).args(["postprocess", "--copy", "--"]).arg(&dir).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lay = dir.join("busybox-1.35.0-linux-amd64.oci");
    let archive = dir.join("busybox-1.35.0-linux-amd64.docker.tar");
    let r = read_layout(&lay, "1.35.0").unwrap();

    let o = verify(&lay);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("OCI images are not signed"), "{stdout}");
    assert!(stdout.contains(&format!("manifest {}", r.manifest_descriptor.digest)), "{stdout}");
    assert!(stdout.contains(&format!("layers:    {} ok", r.manifest.layers.len())), "{stdout}");
    assert!(stdout.contains(&format!("image ID:  {}", r.manifest.config.digest)), "{stdout}");
    assert!(stdout.contains("closure.json matches the pinned sha256-"), "{stdout}");
    let o = verify(&archive);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("busybox:1.35.0"), "{stdout}");
    assert!(stdout.contains(&format!("image ID:  {}", r.manifest.config.digest)), "{stdout}");
    assert!(stdout.contains(&format!("the same as the layout {}", lay.display())), "{stdout}");

    // A layer blob recompressed: the same tar, other bytes.
    let big = r.manifest.layers.iter().max_by_key(|l| l.size).unwrap();
    let blob = r.blob_path(&big.digest);
    let original = std::fs::read(&blob).unwrap();
    let mut tar_bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(original.as_slice()).read_to_end(&mut tar_bytes).unwrap();
    let other = gzip(&tar_bytes, 1);
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, &other).unwrap();
    let o = verify(&lay);
    let err = common::stderr(&o);
    assert!(!o.status.success(), "a changed layer passed");
    assert!(err.contains(&blob.display().to_string()), "{err}");
    // Its size differs from the descriptor's, which is refused before the
    // blob is read.
    let sizes = format!("is {} bytes where the manifest says {}", other.len(), big.size);
    assert!(err.contains(&sizes), "{err}");
    assert!(err.contains("rebuild the image with mkOCI"), "{err}");
    // A blob of the right size with other bytes (the first gzip member's
    // MTIME, which no decoder checks): its digest is named.
    let mut flipped = original.clone();
    flipped[4] ^= 0xff;
    std::fs::write(&blob, &flipped).unwrap();
    let err = common::stderr(&verify(&lay));
    assert!(err.contains(&digest::of_bytes(&flipped).to_string()) && err.contains(&big.digest.to_string()), "{err}");
    assert!(err.contains("rebuild the image with mkOCI"), "{err}");
    // The archive beside it is compared with the layout, so it fails too.
    assert!(!verify(&archive).status.success());
    std::fs::write(&blob, &original).unwrap();
    assert!(verify(&lay).status.success());

    // An archive whose layer is another tar, named after its own digest: its
    // names agree, but the config's diff_id does not.
    let mut m = members(&std::fs::read(&archive).unwrap());
    let empty = gzip(&[0u8; 1024], 6);
    let new_name = format!("{}.tar.gz", digest::hex(&digest::of_bytes(&empty)));
    let old_name = format!("{}.tar.gz", digest::hex(&big.digest));
    let number = r.manifest.layers.iter().position(|l| l.digest == big.digest).unwrap() + 1;
    for (name, bytes) in m.iter_mut() {
        if *name == old_name {
            *name = new_name.clone();
            *bytes = empty.clone();
        } else if name == "manifest.json" {
            *bytes = String::from_utf8(bytes.clone()).unwrap().replace(&old_name, &new_name).into_bytes();
        }
    }
    let swapped = dir.join("swapped.docker.tar");
    write_tar(&swapped, &m);
    let o = verify(&swapped);
    let err = common::stderr(&o);
    assert!(!o.status.success(), "a swapped layer passed");
    assert!(err.contains(&format!("layer {number} (")) && err.contains("diff_id"), "{err}");
    // A member whose bytes are not the digest its name gives.
    for (name, bytes) in m.iter_mut() {
        if *name == new_name {
            *bytes = other.clone();
        }
    }
    write_tar(&swapped, &m);
    let err = common::stderr(&verify(&swapped));
    assert!(err.contains(&new_name) && err.contains(&digest::of_bytes(&other).to_string()), "{err}");
    assert!(err.contains("run postprocess.sh again"), "{err}");

    // A directory that is no layout.
    let o = verify(s.tmp.path());
    let err = common::stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("not an OCI image layout") && err.contains("DIR/<base>.oci"), "{err}");
}

const H_LAYER: &str = "4c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4";

/// Builds lib as a declared OCI layer (`format = "oci-layer"`) into the
/// store, for `system`; returns its output.
fn oci_layer(s: &Store, hash: &str, system: &str) -> PathBuf {
    let lib = s.path(H_LIB, "lib");
    let out = PathBuf::from(s.path(hash, "lib-oci-layer"));
    let a = json!({
        "outputs": {"out": "/unused"},
        "system": system,
        "storeDir": s.dir.to_str().unwrap(),
        "closure": [{"path": lib, "references": [lib]}],
        "format": "oci-layer",
        "oci": {"tag": "1", "maxLayers": 1},
        "aci": {"defaultName": "lib", "version": "1", "packages": [lib], "name": "layers/lib"},
    });
    let o = run_build(s, &a, &out, "0");
    assert!(o.status.success(), "the layer build failed: {}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn declared_oci_layers_are_copied_as_the_bottom_layers() {
    let s = store();
    let layer = oci_layer(&s, H_LAYER, "x86_64-linux");
    let index: Value = serde_json::from_slice(&std::fs::read(layer.join("nix2aci.json")).unwrap()).unwrap();
    assert_eq!(index["artifacts"][0]["layers"], 1);
    assert_eq!(index["artifacts"][0]["storePaths"], json!([s.path(H_LIB, "lib")]));
    let ldir = layer.join(index["artifacts"][0]["files"]["layout"].as_str().unwrap());
    let l = read_layout(&ldir, "1").unwrap();
    let lblob = &l.manifest.layers[0];

    let out = build_ok(&s, json!({}), json!({"layers": [layer.to_str().unwrap()]}), "with-layer");
    let img = read_layout(&out.join("busybox-1.35.0-linux-amd64.oci"), "1.35.0").unwrap();
    // The bottom layer is the declared one, byte for byte, with its diff_id.
    assert_eq!(&img.manifest.layers[0], lblob);
    assert_eq!(img.config.rootfs.diff_ids[0], l.config.rootfs.diff_ids[0]);
    // Linked, not copied.
    assert_eq!(std::fs::read_link(img.blob_path(&lblob.digest)).unwrap(), l.blob_path(&lblob.digest));
    // lib is in no other layer; busybox, conf and file keep a layer each.
    let lib_rel = s.path(H_LIB, "lib")[1..].to_string();
    for d in &img.manifest.layers[1..] {
        let (names, _) = layer_entries(&img.blob_path(&d.digest));
        assert!(!names.iter().any(|n| n.starts_with(&lib_rel)), "{names:?} holds lib");
    }
    assert_eq!(img.manifest.layers.len(), 1 + 3 + 1);
    assert!(img.config.history[0].created_by.starts_with("mkaci: declared layer layers/lib"));
    // The result verifies like any layout.
    let v = verify(&out.join("busybox-1.35.0-linux-amd64.oci"));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // maxLayers counts the declared layer: 4 leaves 3 for the store groups and the top.
    let out = build_ok(&s, json!({}), json!({"maxLayers": 4, "layers": [layer.to_str().unwrap()]}), "budget");
    let img = read_layout(&out.join("busybox-1.35.0-linux-amd64.oci"), "1.35.0").unwrap();
    assert_eq!(img.manifest.layers.len(), 4);
}

#[test]
fn declared_oci_layers_are_refused_naming_the_layer() {
    let s = store();
    let layer = oci_layer(&s, H_LAYER, "x86_64-linux");
    let arm = oci_layer(&s, "5c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "aarch64-linux");
    // An ACI result is not an OCI layer.
    let aci = PathBuf::from(s.path("6c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "an-aci"));
    let mut a = attrs(&s, json!({}), json!({}));
    a["format"] = json!("aci");
    let o = run_build(&s, &a, &aci, "0");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A layer whose blob was changed after it was built.
    let tampered = PathBuf::from(s.path("7c7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "tampered"));
    let o = Command::new("cp").arg("-r").arg(&layer).arg(&tampered).output().unwrap();
    assert!(o.status.success());
    let index: Value = serde_json::from_slice(&std::fs::read(layer.join("nix2aci.json")).unwrap()).unwrap();
    let dir_name = index["artifacts"][0]["files"]["layout"].as_str().unwrap();
    let blobs = tampered.join(dir_name).join("blobs/sha256");
    let ldir = layer.join(dir_name);
    let l = read_layout(&ldir, "1").unwrap();
    let blob = blobs.join(digest::hex(&l.manifest.layers[0].digest));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();

    let cases: Vec<(Value, String)> = vec![
        (json!({"layers": ["/not/in/the/store"]}), "layers[0] = \"/not/in/the/store\" is not a store path".into()),
        (
            json!({"layers": [aci.to_str().unwrap()]}),
            "layers[0] = ".to_string() + &format!("{aci:?}") + " is not an OCI layer: it holds 1 ACI(s)",
        ),
        (
            json!({"layers": [arm.to_str().unwrap()]}),
            "layers[0] (layers/lib) is built for linux/arm64, this image for linux/amd64".into(),
        ),
        (
            json!({"layers": [layer.to_str().unwrap(), layer.to_str().unwrap()]}),
            "layers[0] and layers[1] are the same layer layers/lib".into(),
        ),
        (json!({"maxLayers": 2, "layers": [layer.to_str().unwrap()]}), "raise maxLayers to at least 3".into()),
        (json!({"layers": [tampered.to_str().unwrap()]}), "where sha256:".into()),
    ];
    for (oci, needle) in cases {
        let out = s.tmp.path().join("refused");
        let o = run_build(&s, &attrs(&s, json!({}), oci.clone()), &out, "0");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{oci} was accepted");
        assert!(err.contains(&needle), "{oci}: expected {needle:?} in: {err}");
        assert!(!out.exists(), "a refused build left {out:?}");
    }
}

/// A cached one-path OCI layer of `path` (`format = "oci-path-layer"`), in
/// the store path `hash`.
fn oci_path_layer(s: &Store, hash: &str, path: &str, compression: &str) -> PathBuf {
    let out = PathBuf::from(s.path(hash, "oci-layer"));
    let mut a = attrs(s, json!({}), json!({}));
    a["format"] = json!("oci-path-layer");
    a["oci"] = json!({"tag": "latest", "maxLayers": 1});
    a["aci"] = json!({"packages": [path], "compression": compression});
    let o = run_build(s, &a, &out, "0");
    assert!(o.status.success(), "the path layer of {path} failed: {}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn cached_oci_layers_give_the_same_image() {
    let s = store();
    // The layer plan with maxLayers = 4: two paths of their own (lib, then
    // busybox), the other two shared, then the top layer.
    let mut plan_attrs = attrs(&s, json!({}), json!({"maxLayers": 4}));
    plan_attrs["format"] = json!("layer-plan");
    let plan_out = s.tmp.path().join("plan");
    let o = run_build(&s, &plan_attrs, &plan_out, "0");
    assert!(o.status.success(), "plan: {}", String::from_utf8_lossy(&o.stderr));
    let plan: Value = serde_json::from_slice(&std::fs::read(plan_out.join("layers.json")).unwrap()).unwrap();
    assert_eq!(plan["paths"], json!([s.path(H_LIB, "lib"), s.path(H_BUSYBOX, "busybox")]));
    let cached: Vec<String> = ["8d7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", "9d7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4"]
        .iter()
        .zip(plan["paths"].as_array().unwrap())
        .map(|(h, p)| oci_path_layer(&s, h, p.as_str().unwrap(), "gzip").to_str().unwrap().to_string())
        .collect();
    let plain = build_ok(&s, json!({}), json!({"maxLayers": 4}), "plain");
    let out = build_ok(&s, json!({}), json!({"maxLayers": 4, "cachedLayers": cached}), "cached");
    let name = "busybox-1.35.0-linux-amd64.oci";
    let (a, b) = (read_layout(&plain.join(name), "1.35.0").unwrap(), read_layout(&out.join(name), "1.35.0").unwrap());
    assert_eq!(a.manifest_descriptor, b.manifest_descriptor, "the same manifest digest");
    assert_eq!(a.manifest, b.manifest);
    assert_eq!(a.config, b.config);
    // The two one-path layers are links into the cached layers' outputs.
    for (d, c) in b.manifest.layers[..2].iter().zip(&cached) {
        let target = std::fs::read_link(b.blob_path(&d.digest)).unwrap();
        assert!(target.starts_with(c), "{} links to {}", d.digest, target.display());
    }
    let v = verify(&out.join(name));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    // Refused: a layer the image has no layer of its own for (maxLayers
    // groups busybox with others), a layer of another compression.
    let none = oci_path_layer(&s, "7d7wy3d5dbzbmm3jjxnn2g8yl8y5ffa4", &s.path(H_LIB, "lib"), "none");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"maxLayers": 3, "cachedLayers": cached}), "cachedLayers[1] ("),
        (json!({"maxLayers": 3, "cachedLayers": cached}), "gets no store layer of its own here"),
        (json!({"cachedLayers": [none.to_str().unwrap()]}), "is compressed as application/vnd.oci.image.layer.v1.tar"),
    ];
    for (oci, needle) in cases {
        let out = s.tmp.path().join("refused");
        let o = run_build(&s, &attrs(&s, json!({}), oci.clone()), &out, "0");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{oci} was accepted");
        assert!(err.contains(needle), "{oci}: expected {needle:?} in: {err}");
        assert!(!out.exists(), "a refused build left {out:?}");
    }
}

/// A layout in a result is untrusted: a stray blob, a file the layout's
/// index does not reach, a link in it, or a blob whose bytes are not its
/// digest are refused before anything is published, with or without --copy.
#[test]
fn postprocess_publishes_only_what_the_layouts_index_reaches() {
    let s = store();
    let built = build_ok(&s, json!({}), json!({}), "result");
    let secret = s.tmp.path().join("secret");
    std::fs::write(&secret, "the user's secret").unwrap();
    let layout_name = "busybox-1.35.0-linux-amd64.oci";
    // A writable copy of the result to plant things into.
    let copy = |name: &str| -> std::path::PathBuf {
        let r = s.tmp.path().join(name);
        let o = Command::new("cp").arg("-a").arg(&built).arg(&r).status().unwrap();
        assert!(o.success());
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&r).status();
        r
    };
    let blob_dir = |r: &Path| r.join(layout_name).join("blobs/sha256");
    let some_blob = |r: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(blob_dir(r)).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names.pop().unwrap()
    };
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Plant, &str)> = vec![
        (
            "stray",
            Box::new(|r: &Path| std::fs::write(blob_dir(r).join("ab".repeat(32)), "stray").unwrap()),
            "does not reach it",
        ),
        (
            "extra-file",
            Box::new(|r: &Path| std::fs::write(r.join(layout_name).join("notes.txt"), "x").unwrap()),
            "holds no such file",
        ),
        (
            "linked-blob",
            Box::new(|r: &Path| {
                let b = some_blob(r);
                std::fs::remove_file(&b).unwrap();
                std::os::unix::fs::symlink(&secret, &b).unwrap();
            }),
            "which postprocess does not follow: a blob links only to the same blob of a declared layer's layout in the store",
        ),
        (
            "linked-layout",
            Box::new(|r: &Path| {
                let l = r.join(layout_name);
                let elsewhere = r.with_extension("elsewhere");
                std::fs::rename(&l, &elsewhere).unwrap();
                std::os::unix::fs::symlink(&elsewhere, &l).unwrap();
            }),
            "a directory goes there",
        ),
    ];
    for (name, plant, needle) in cases {
        let r = copy(name);
        plant(&r);
        for copy_flag in [false, true] {
            let dir = s.tmp.path().join(format!("OCI-{name}-{copy_flag}"));
            let mut cmd = Command::new(MKACI);
            cmd.arg("postprocess");
            if copy_flag {
                cmd.arg("--copy");
            }
            let o = cmd.arg("--").arg(&dir).arg(&r).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{name}: {err}");
            assert!(err.contains(needle) && !err.contains("internal error"), "{name}: {err}");
            assert!(!dir.exists(), "{name}: DIR written");
        }
    }
    // A layer blob whose bytes are not its digest (same size).
    let r = copy("tampered");
    let manifest = read_layout(&r.join(layout_name), "1.35.0").unwrap().manifest;
    let layer = blob_dir(&r).join(digest::hex(&manifest.layers[0].digest));
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let dir = s.tmp.path().join("OCI-tampered");
    let o = Command::new(MKACI).args(["postprocess", "--copy", "--"]).arg(&dir).arg(&r).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.join(layout_name).exists(), "a tampered layout was copied");
}
