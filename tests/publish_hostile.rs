//! postprocess, verify and inspect against results and images made to trick
//! them: each test generates its hostile input with real tools (GNU tar,
//! gzip, gpg) and checks the refusal, and that nothing was signed or
//! published. A result is the output of a build, which can hold anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// Rewrites the result's `nix2aci.json` with `edit`.
fn edit_index(result: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = result.join("nix2aci.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Asserts a clean refusal: exit 1, one error line with `needles`, no panic.
fn refused(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(!stderr(o).contains("internal error"), "{}", stderr(o));
    assert_fails_with(o, needles);
}

/// A signed image `dir/name` (an `.asc` beside it) whose manifest is `manifest`.
fn signed_image(home: &GpgHome, dir: &Path, name: &str, manifest: &serde_json::Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let aci = dir.join(name);
    make_aci(&aci, &serde_json::to_vec(manifest).unwrap(), "x", &[]);
    let asc = dir.join(format!("{name}.asc"));
    let out = home.gpg().args(["--armor", "--detach-sign", "--output"]).arg(&asc).arg(&aci).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    aci
}

fn manifest_with(labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/x",
        "labels": labels,
        "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}
    })
}

#[test]
fn labels_that_cannot_be_file_names_are_refused_where_read() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    // An index whose version, os or arch holds '/' or a control character.
    for (field, value, problem) in [
        ("version", "1/../../escape", "contains '/'"),
        ("os", "linux\u{1b}[2J", "control character"),
        ("arch", "amd64/x", "contains '/'"),
    ] {
        let result = make_result(t.path(), &format!("r-{field}"), &[Img::fat("example.com/x")]);
        edit_index(&result, |v| v["artifacts"][0][field] = value.into());
        let dir = t.path().join(format!("ACIs-{field}"));
        let o = home.postprocess(&dir, &[&result], &[]);
        refused(&o, &["nix2aci.json", &format!("artifacts[0].{field}"), problem]);
        assert!(!dir.exists(), "DIR was left behind");
    }
    // A signed image whose manifest has such a version, or a dependency
    // whose labels do: verify and inspect refuse it, naming the field.
    let dir = t.path().join("signed");
    let bad_version = manifest_with(serde_json::json!([
        {"name": "version", "value": "1/2"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}
    ]));
    let mut bad_dep =
        manifest_with(serde_json::json!([{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]));
    bad_dep["dependencies"] = serde_json::json!([{"imageName": "example.com/dep", "labels": [
        {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}, {"name": "version", "value": "a\nb"}
    ]}]);
    for (name, manifest, at) in
        [("v.aci", bad_version, "labels[0].value"), ("d.aci", bad_dep, "dependencies[0].labels[2].value")]
    {
        let aci = signed_image(&home, &dir, name, &manifest);
        let o = home.mkaci().arg("verify").arg(&aci).output().unwrap();
        refused(&o, &[at, "cannot go into a file name"]);
        let o = home.mkaci().args(["inspect", "--verify"]).arg(&aci).output().unwrap();
        assert!(!stderr(&o).contains("internal error"), "{}", stderr(&o));
        assert!(stderr(&o).contains(at), "{}", stderr(&o));
    }
}

/// Nothing of the run is anywhere: no DIR, no signature made for it.
fn nothing_published(dir: &Path) {
    assert!(!dir.exists(), "DIR {dir:?} was written: {:?}", std::fs::read_dir(dir).map(|d| d.count()));
}

#[test]
fn links_out_of_the_result_are_not_followed() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    // What a build must never get signed or copied: the user's secret.
    let secret = t.path().join("id_rsa");
    std::fs::write(&secret, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    let img = Img::thin("example.com/x");
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Plant, &[&str])> = vec![
        (
            "the image a link to a file outside",
            Box::new(|r: &Path| {
                let aci = r.join(img.file());
                std::fs::remove_file(&aci).unwrap();
                std::os::unix::fs::symlink(&secret, &aci).unwrap();
            }),
            &["is a link to", "id_rsa", "does not follow"],
        ),
        (
            "the image a relative link out",
            Box::new(|r: &Path| {
                let aci = r.join(img.file());
                std::fs::remove_file(&aci).unwrap();
                std::os::unix::fs::symlink("../id_rsa", &aci).unwrap();
            }),
            &["is a link to", "does not follow"],
        ),
        (
            "the .mounts a link to /dev/zero",
            Box::new(|r: &Path| {
                let m = r.join(format!("{}.mounts", img.base()));
                std::fs::remove_file(&m).unwrap();
                std::os::unix::fs::symlink("/dev/zero", &m).unwrap();
            }),
            &["mounts", "not a regular file"],
        ),
        (
            "the image a FIFO",
            Box::new(|r: &Path| {
                let aci = r.join(img.file());
                std::fs::remove_file(&aci).unwrap();
                assert!(std::process::Command::new("mkfifo").arg(&aci).status().unwrap().success());
            }),
            &[".aci", "not a regular file"],
        ),
        (
            "the .mounts with a volume of the host's root",
            Box::new(|r: &Path| {
                let m = r.join(format!("{}.mounts", img.base()));
                std::fs::remove_file(&m).unwrap();
                std::fs::write(&m, format!("--volume=root,kind=host,source=/ {THIN_MOUNTS}\n")).unwrap();
            }),
            &[".mounts", "the volumes", "store mounts of the image's manifest"],
        ),
    ];
    for (i, (what, plant, needles)) in cases.iter().enumerate() {
        let result = make_result(t.path(), &format!("r{i}"), std::slice::from_ref(&img));
        plant(&result);
        for copy in [false, true] {
            let dir = t.path().join(format!("ACIs-{i}-{copy}"));
            let extra: &[&str] = if copy { &["--copy"] } else { &[] };
            let o = home.postprocess(&dir, &[&result], extra);
            eprintln!("{what}: {}", stderr(&o).trim());
            refused(&o, needles);
            nothing_published(&dir);
        }
    }
}

#[test]
fn an_index_that_lies_about_the_image_is_not_signed() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("localhost/x");
    let site = t.path().join("site");
    let with_site: &[&str] = &["--site", site.to_str().unwrap(), "--base-url", "http://localhost/"];

    // Another image's bytes under this image's ID (index and .id agree).
    let r = make_result(t.path(), "swapped", std::slice::from_ref(&img));
    let other = make_result(t.path(), "other", &[Img { content: "evil", ..img.clone() }]);
    std::fs::copy(other.join(img.file()), r.join(img.file())).unwrap();
    let dir = t.path().join("A1");
    let o = home.postprocess(&dir, &[&r], with_site);
    let recorded = std::fs::read_to_string(r.join(format!("{}.id", img.base()))).unwrap();
    refused(&o, &["has the image ID", "nix2aci.json", recorded.trim(), "nothing was signed"]);
    nothing_published(&dir);
    assert!(!site.exists(), "the site lists a false ID");

    // The index alone lies: the .id file still holds the true ID.
    let r = make_result(t.path(), "lying-index", std::slice::from_ref(&img));
    let fake = format!("sha512-{}", "ab".repeat(64));
    edit_index(&r, |v| v["artifacts"][0]["digests"]["imageId"] = fake.clone().into());
    let dir = t.path().join("A2");
    refused(&home.postprocess(&dir, &[&r], with_site), &["nix2aci.json", &fake]);
    nothing_published(&dir);

    // The .id file alone lies.
    let r = make_result(t.path(), "lying-id", std::slice::from_ref(&img));
    std::fs::write(r.join(format!("{}.id", img.base())), format!("{fake}\n")).unwrap();
    let dir = t.path().join("A3");
    refused(&home.postprocess(&dir, &[&r], &[]), &[".id", &fake]);
    nothing_published(&dir);

    // The index names the image after another name than its manifest does:
    // it would be signed for, and served under, a name it does not have.
    let r = make_result(t.path(), "renamed", &[Img::fat("localhost/evil")]);
    edit_index(&r, |v| v["artifacts"][0]["name"] = "localhost/x".into());
    let dir = t.path().join("A4");
    refused(&home.postprocess(&dir, &[&r], with_site), &["name is localhost/evil in the image but localhost/x"]);
    nothing_published(&dir);
    // The same for the version label, and the size.
    let r = make_result(t.path(), "relabelled", std::slice::from_ref(&img));
    edit_index(&r, |v| v["artifacts"][0]["version"] = "2.0".into());
    refused(&home.postprocess(&dir, &[&r], &[]), &["version is \"1.0\" in the image but \"2.0\""]);
    let r = make_result(t.path(), "resized", std::slice::from_ref(&img));
    edit_index(&r, |v| v["artifacts"][0]["size"] = 1.into());
    refused(&home.postprocess(&dir, &[&r], &[]), &["size is"]);
    nothing_published(&dir);

    // Not an ACI at all (an index and .id made for it, so only reading it tells).
    let r = make_result(t.path(), "not-aci", std::slice::from_ref(&img));
    std::fs::write(r.join(img.file()), "just text").unwrap();
    refused(&home.postprocess(&dir, &[&r], &[]), &["is not a valid ACI"]);
    nothing_published(&dir);
    assert!(!site.exists());
}

#[test]
fn an_sbom_the_image_does_not_pin_is_not_published() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("example.com/x");
    let r = make_result(t.path(), "r", std::slice::from_ref(&img));
    let sbom = format!("{}.closure.json", img.base());
    std::fs::write(r.join(&sbom), "{\"anything\": \"the build wanted served\"}").unwrap();
    edit_index(&r, |v| v["artifacts"][0]["files"]["sbom"] = sbom.clone().into());
    let dir = t.path().join("ACIs");
    refused(&home.postprocess(&dir, &[&r], &["--copy"]), &[&sbom, "not pinned"]);
    nothing_published(&dir);
}

/// A layered result's declared layer: its files are links into the layer's
/// own result in the store. Such links are followed, and only such links.
#[test]
fn a_declared_layers_links_must_point_at_a_layer_result_in_the_store() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("nix/store");
    std::fs::create_dir_all(&store).unwrap();
    let layer_img = Img::fat("example.com/layer");
    let layer = make_result(&store, "0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-layer", std::slice::from_ref(&layer_img));
    let layer_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layer.join("nix2aci.json")).unwrap()).unwrap();
    let layer_files = ["aci", "manifest", "id"].map(|e| format!("{}.{e}", layer_img.base()));
    // An app result that links the layer's files in, as mkaci does.
    let app = |name: &str, target_dir: &Path| -> PathBuf {
        let r = make_result(t.path(), name, &[Img::fat("example.com/app")]);
        for f in &layer_files {
            std::os::unix::fs::symlink(target_dir.join(f), r.join(f)).unwrap();
        }
        let mut entry = layer_index["artifacts"][0].clone();
        entry["kind"] = "dependency-aci".into();
        edit_index(&r, |v| v["artifacts"].as_array_mut().unwrap().push(entry));
        r
    };
    let run = |r: &Path, dir: &Path| {
        home.mkaci()
            .env("NIX_STORE_DIR", &store)
            .args(["postprocess", "--copy", "--"])
            .arg(dir)
            .arg(r)
            .output()
            .unwrap()
    };
    // The way mkaci makes them: published, the layer signed.
    let good = app("good", &layer);
    let dir = t.path().join("good-ACIs");
    let o = run(&good, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(home.verifies(&dir.join(format!("{}.asc", layer_files[0])), &dir.join(&layer_files[0])));

    // A directory outside the store that looks like a layer result.
    let outside = make_result(t.path(), "0c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-fake", std::slice::from_ref(&layer_img));
    // A store path that is no nix2aci result.
    let plain = store.join("1c8y8p5ymhm3mha0mzqhcq7cx9ffpwzw-plain");
    std::fs::create_dir_all(&plain).unwrap();
    for f in &layer_files {
        std::fs::copy(layer.join(f), plain.join(f)).unwrap();
    }
    // A path into the store that climbs out of it.
    let climbing = store.join("..").join("..").join(outside.strip_prefix(t.path()).unwrap());
    for (name, target, needle) in [
        ("outside", outside.clone(), "does not point at a file of a store path"),
        ("plain", plain.clone(), "not a nix2aci result"),
        ("climbing", climbing, "does not point at a file of a store path"),
    ] {
        let r = app(name, &target);
        let dir = t.path().join(format!("{name}-ACIs"));
        let o = run(&r, &dir);
        refused(&o, &["is a link to", needle]);
        nothing_published(&dir);
    }
    // The layer's own index describes another image than the app's does.
    let r = app("other-id", &layer);
    let fake = format!("sha512-{}", "cd".repeat(64));
    edit_index(&r, |v| v["artifacts"][1]["digests"]["imageId"] = fake.clone().into());
    let dir = t.path().join("other-id-ACIs");
    refused(&run(&r, &dir), &["the layer's imageId", &fake]);
    nothing_published(&dir);
}

/// A write that fails part-way (here: a directory where the second image's
/// signature goes) never leaves a signature without its key in DIR.
#[test]
fn a_failure_part_way_leaves_no_signature_without_its_key() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (Img::fat("example.com/a"), Img::fat("example.com/b"));
    let result = make_result(t.path(), "r", &[a.clone(), b.clone()]);
    let dir = t.path().join("ACIs");
    std::fs::create_dir_all(dir.join(format!("{}.asc", b.file())).join("blocker")).unwrap();
    let o = home.postprocess(&dir, &[&result], &[]);
    refused(&o, &[&format!("{}.asc", b.file())]);
    for entry in listing(&dir) {
        if let Some(image) = entry.strip_suffix(".asc") {
            if dir.join(&entry).is_file() {
                assert!(dir.join("pubkeys.gpg").is_file(), "{image} is signed, and no pubkeys.gpg");
                let fresh = GpgHome::new(KeyKind::None);
                assert!(fresh.gpg().arg("--import").arg(dir.join("pubkeys.gpg")).status().unwrap().success());
                assert!(fresh.verifies(&dir.join(&entry), &dir.join(image)));
            }
        }
    }
}
