//! A bounded random campaign over the readers: valid ACIs (every
//! compression), a docker-archive and an OCI layout, mutated by proptest
//! (bytes flipped, runs overwritten, cut short, bytes inserted, tar header
//! fields rewritten with their checksum fixed), then read by
//! `inspect::read_image`, `oci::verify_docker_archive` and
//! `oci::verify_layout`. Each must return (never panic), and an ACI tar mkaci
//! accepts must read the same, entry for entry, with the `tar` crate: one
//! reading for everyone.
//!
//! Random OCI layers (names, whiteouts, symlinks, directories, over one to
//! three layers) in layouts with every digest right are accepted by
//! `oci::verify_layout` exactly when a reading by the OCI spec's rules, written
//! here without mkaci's code, finds them unambiguous.
//!
//! It runs `MKACI_CAMPAIGN_CASES` cases per reader (default 8000, a quarter
//! of that for the random layers; about a minute and a half in all under
//! `cargo test`); for a longer campaign:
//! `MKACI_CAMPAIGN_CASES=20000 cargo test --release --test readers_campaign`.

mod common;

use std::io::Write;
use std::path::Path;

use common::tars::{put, sha_hex};
use mkaci::check::inspect::read_image;
use mkaci::check::oci::{verify_docker_archive, verify_layout};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;

fn cases() -> u32 {
    std::env::var("MKACI_CAMPAIGN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(8000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() })
}

/// A valid ACI tar with one of each entry kind and a PAX and a GNU long name.
fn aci_tar() -> Vec<u8> {
    let mut t = Vec::new();
    put(&mut t, b"manifest", b'0', MANIFEST, b"");
    put(&mut t, b"rootfs/", b'5', b"", b"");
    put(&mut t, b"rootfs/etc/", b'5', b"", b"");
    put(&mut t, b"rootfs/etc/hosts", b'0', b"127.0.0.1 localhost\n", b"");
    put(&mut t, b"rootfs/etc/link", b'2', b"", b"hosts");
    put(&mut t, b"rootfs/etc/hard", b'1', b"", b"rootfs/etc/hosts");
    put(&mut t, b"././@PaxHeader", b'x', b"25 path=rootfs/etc/paxed\n", b"");
    put(&mut t, b"x", b'0', b"pax", b"");
    let mut gnu = tar::Header::new_gnu();
    gnu.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    gnu.set_entry_type(tar::EntryType::new(b'L'));
    let long = [b"rootfs/etc/".as_slice(), &[b'l'; 120], b"\0"].concat();
    gnu.set_size(long.len() as u64);
    gnu.set_cksum();
    t.extend_from_slice(gnu.as_bytes());
    t.extend_from_slice(&long);
    t.resize(t.len().div_ceil(512) * 512, 0);
    put(&mut t, b"y", b'0', b"long", b"");
    t.extend_from_slice(&[0; 1024]);
    t
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Overwrite {
        at: usize,
        bytes: Vec<u8>,
    },
    Truncate {
        keep: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// A tar header field rewritten, the checksum fixed (plain tars).
    Field {
        block: usize,
        field: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b"0".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"/".to_vec()),
        Just(b"..".to_vec()),
        Just(b"7777777777\0".to_vec()),
        Just(vec![0x80, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0]),
        Just(b"rootfs/etc".to_vec()),
        Just(b"rootfs/etc/hosts/x".to_vec()),
        Just(b"ustar  \0".to_vec()),
        prop::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..600))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 0usize..10, interesting).prop_map(|(block, field, bytes)| Mutation::Field {
            block,
            field,
            bytes
        }),
    ]
}

/// Offsets of the header fields a mutation may rewrite.
const FIELDS: [(usize, usize); 10] =
    [(0, 100), (100, 8), (124, 12), (156, 1), (157, 100), (257, 8), (345, 155), (500, 12), (108, 8), (136, 12)];

fn apply(mut b: Vec<u8>, muts: &[Mutation], tar_blocks: bool) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Flip { at, bit } => {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
            Mutation::Overwrite { at, bytes } => {
                let i = at % b.len();
                for (j, x) in bytes.iter().enumerate() {
                    if let Some(c) = b.get_mut(i + j) {
                        *c = *x;
                    }
                }
            }
            Mutation::Truncate { keep } => b.truncate(keep % b.len()),
            Mutation::Insert { at, bytes } => {
                let i = at % (b.len() + 1);
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Field { block, field, bytes } => {
                if !tar_blocks || b.len() < 512 {
                    continue;
                }
                let start = (block % (b.len() / 512)) * 512;
                let (off, len) = FIELDS[*field];
                let h = &mut b[start..start + 512];
                let field = &mut h[off..off + len];
                field.fill(0);
                let n = bytes.len().min(len);
                field[..n].copy_from_slice(&bytes[..n]);
                let sum: u32 =
                    h.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { c as u32 }).sum();
                h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            }
        }
    }
    b
}

/// One entry as read: (kind, name, link name, size).
type Read1 = (u8, Vec<u8>, Vec<u8>, u64);

/// What the `tar` crate reads from an uncompressed tar: (kind, name, link,
/// size) per entry, or `None` if it refuses it.
fn tar_crate_reading(bytes: &[u8]) -> Option<Vec<Read1>> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().ok()? {
        let mut e = e.ok()?;
        let kind = e.header().entry_type().as_byte();
        let name = e.path_bytes().into_owned();
        let link = e.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
        let size = e.size();
        std::io::copy(&mut e, &mut std::io::sink()).ok()?;
        out.push((if kind == 0 { b'0' } else { kind }, name, link, size));
    }
    Some(out)
}

/// What mkaci's tar reader reads, the same way.
fn our_reading(bytes: &[u8]) -> Vec<Read1> {
    let mut r = mkaci::check::tar::TarReader::new(bytes, u64::MAX, "");
    let mut out = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        out.push((e.kind, e.name, e.link, e.size));
    }
    out
}

fn compress(kind: u8, tar: &[u8]) -> Vec<u8> {
    match kind {
        0 => tar.to_vec(),
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        2 => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 0);
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        _ => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
    }
}

#[test]
fn mutated_acis_are_read_one_way_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tar = aci_tar();
    let path = dir.path().join("m.aci");
    std::fs::write(&path, &tar).unwrap();
    read_image(&path).expect("the seed image is valid");
    let accepted = std::cell::Cell::new(0u32);
    let strategy = (0u8..4, any::<bool>(), prop::collection::vec(mutation(), 1..4));
    runner()
        .run(&strategy, |(compression, before, muts)| {
            // Mutate the tar, then compress; or compress, then mutate the
            // compressed bytes.
            let bytes = if before {
                compress(compression, &apply(tar.clone(), &muts, true))
            } else {
                apply(compress(compression, &tar), &muts, compression == 0)
            };
            std::fs::write(&path, &bytes).unwrap();
            if read_image(&path).is_ok() {
                accepted.set(accepted.get() + 1);
                if compression == 0 {
                    // Accepted: the tar crate reads the same entries.
                    let theirs = tar_crate_reading(&bytes);
                    prop_assert_eq!(theirs, Some(our_reading(&bytes)), "two readings of {:?}", muts);
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!("{} mutated ACIs of {} still accepted, each read alike", accepted.get(), cases());
}

/// A one-layer layout and its docker-archive, written by hand.
fn seeds(dir: &Path) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let mut layer = Vec::new();
    put(&mut layer, b"etc/", b'5', b"", b"");
    put(&mut layer, b"etc/hosts", b'0', b"127.0.0.1 localhost\n", b"");
    layer.extend_from_slice(&[0; 1024]);
    let lhex = sha_hex(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{lhex}")]}
    }))
    .unwrap();
    let chex = sha_hex(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{chex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{lhex}"), "size": layer.len()}]
    }))
    .unwrap();
    let mhex = sha_hex(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"),
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    }))
    .unwrap();
    let files = vec![
        ("index.json".to_string(), index),
        ("oci-layout".to_string(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (format!("blobs/sha256/{lhex}"), layer.clone()),
        (format!("blobs/sha256/{chex}"), config.clone()),
        (format!("blobs/sha256/{mhex}"), manifest),
    ];
    let dm = serde_json::to_vec(&serde_json::json!([{"Config": format!("{chex}.json"), "RepoTags": ["t:1"], "Layers": [format!("{lhex}.tar")]}])).unwrap();
    let mut archive = Vec::new();
    put(&mut archive, b"manifest.json", b'0', &dm, b"");
    put(&mut archive, format!("{chex}.json").as_bytes(), b'0', &config, b"");
    put(&mut archive, format!("{lhex}.tar").as_bytes(), b'0', &layer, b"");
    archive.extend_from_slice(&[0; 1024]);
    let _ = dir;
    (files, archive)
}

fn write_layout(dir: &Path, files: &[(String, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn mutated_docker_archives_and_layouts_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (files, archive) = seeds(dir.path());
    let apath = dir.path().join("m.docker.tar");
    std::fs::write(&apath, &archive).unwrap();
    verify_docker_archive(&apath).expect("the seed archive is valid");
    let lpath = dir.path().join("m.oci");
    write_layout(&lpath, &files);
    verify_layout(&lpath).expect("the seed layout is valid");
    let accepted = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner()
        .run(&prop::collection::vec(mutation(), 1..4), |muts| {
            std::fs::write(&apath, apply(archive.clone(), &muts, true)).unwrap();
            if verify_docker_archive(&apath).is_ok() {
                accepted.0.set(accepted.0.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    runner()
        .run(&(0usize..5, prop::collection::vec(mutation(), 1..4)), |(which, muts)| {
            let mut mutated = files.clone();
            mutated[which].1 = apply(mutated[which].1.clone(), &muts, which == 2);
            write_layout(&lpath, &mutated);
            if verify_layout(&lpath).is_ok() {
                accepted.1.set(accepted.1.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    eprintln!("still accepted: {} docker-archives, {} layouts of {} each", accepted.0.get(), accepted.1.get(), cases());
}

/// The names random layers are made of: plain paths, the same path spelt
/// otherwise, whiteouts, opaque markers, absolute and `..` names.
const LAYER_NAMES: &[&str] = &[
    "a",
    "a/b",
    "a/b/c",
    "b",
    "b/c",
    "./a",
    "a/",
    "a/./b",
    ".wh.a",
    ".wh.b",
    "a/.wh.b",
    "a/.wh..wh..opq",
    ".wh..wh..opq",
    "/a",
    "a/../b",
    "c",
];

/// Reads random layers the way the OCI spec describes, with none of mkaci's
/// code: `None` when an entry lies below a non-directory of the image made
/// so far (or of its own layer), two entries of a layer name one path, a
/// whiteout and its target (or something below it) are in one layer, or a
/// name is absolute or has `..`; what two extractors could unpack
/// differently.
fn spec_reading(layers: &[Vec<(usize, u8)>]) -> Option<()> {
    use std::collections::BTreeMap;
    // path -> (kind, layer)
    let mut fs: BTreeMap<String, (u8, usize)> = BTreeMap::new();
    for (n, layer) in layers.iter().enumerate() {
        let mut seen: Vec<String> = Vec::new();
        let mut whited: Vec<String> = Vec::new();
        for &(name, kind) in layer {
            let raw = LAYER_NAMES[name];
            if raw.starts_with('/') || raw.split('/').any(|c| c == "..") {
                return None;
            }
            let parts: Vec<&str> = raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            let path = parts.join("/");
            let under = |p: &str, d: &str| p == d || p.starts_with(&format!("{d}/"));
            // Every parent: a directory or nothing, in the image as it stands.
            for i in 1..parts.len() {
                let parent = parts[..i].join("/");
                if whited.iter().any(|w| under(&parent, w)) {
                    return None;
                }
                if let Some(&(k, _)) = fs.get(&parent) {
                    if k != b'5' {
                        return None;
                    }
                }
            }
            let last = *parts.last()?;
            if let Some(hidden) = last.strip_prefix(".wh.") {
                if kind != b'0' {
                    return None;
                }
                let dir = parts[..parts.len() - 1].join("/");
                if hidden == ".wh..opq" {
                    // Lower layers' entries in the directory are gone.
                    fs.retain(|p, &mut (_, l)| l >= n || !(dir.is_empty() || p.starts_with(&format!("{dir}/"))));
                } else {
                    if hidden.starts_with(".wh.") || hidden.is_empty() {
                        return None;
                    }
                    let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                    if seen.iter().any(|s| under(s, &target)) {
                        return None;
                    }
                    fs.retain(|p, _| !under(p, &target));
                    whited.push(target);
                }
                if seen.contains(&path) {
                    return None;
                }
                seen.push(path);
                continue;
            }
            if whited.iter().any(|w| under(&path, w)) || seen.contains(&path) {
                return None;
            }
            // A path this layer already implied as a directory.
            if kind != b'5' && seen.iter().any(|s| s.starts_with(&format!("{path}/"))) {
                return None;
            }
            for i in 1..parts.len() {
                let parent = parts[..i].join("/");
                fs.entry(parent).or_insert((b'5', n));
            }
            match fs.get(&path) {
                Some(&(b'5', _)) if kind == b'5' => {}
                _ => {
                    fs.retain(|p, _| !p.starts_with(&format!("{path}/")));
                    fs.insert(path.clone(), (kind, n));
                }
            }
            seen.push(path);
        }
    }
    Some(())
}

/// Random layers of random entries, in a layout with every digest right:
/// `verify_layout` must never panic, and must accept exactly what a reading
/// by the OCI spec's rules ([`spec_reading`]) finds unambiguous.
#[test]
fn random_layers_are_read_as_the_spec_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let lpath = dir.path().join("l.oci");
    let (accepted, refused) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let entry = (0..LAYER_NAMES.len(), prop::sample::select(vec![b'0', b'2', b'5']));
    // A quarter of the cases: each writes a layout.
    let mut runner = TestRunner::new(Config { cases: cases() / 4, failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(prop::collection::vec(entry, 0..6), 1..4), |layers| {
            let tars: Vec<Vec<u8>> = layers
                .iter()
                .map(|l| {
                    let mut t = Vec::new();
                    for &(name, kind) in l {
                        let data: &[u8] = if kind == b'0' { b"x" } else { b"" };
                        let link: &[u8] = if kind == b'2' { b"/etc" } else { b"" };
                        put(&mut t, LAYER_NAMES[name].as_bytes(), kind, data, link);
                    }
                    t.extend_from_slice(&[0; 1024]);
                    t
                })
                .collect();
            write_layout(&lpath, &layout_files(&tars));
            let ours = verify_layout(&lpath);
            let spec = spec_reading(&layers);
            prop_assert_eq!(
                ours.is_ok(),
                spec.is_some(),
                "{:?}: mkaci says {:?}",
                layers
                    .iter()
                    .map(|l| l.iter().map(|&(n, k)| (LAYER_NAMES[n], k as char)).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                ours.err().map(|e| e.to_string())
            );
            if spec.is_some() {
                accepted.set(accepted.get() + 1);
            } else {
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    eprintln!("random layers: {} accepted, {} refused, each as the spec reads them", accepted.get(), refused.get());
}

/// The files of a layout of these (plain) layer tars, every digest right.
fn layout_files(layers: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", sha_hex(l)), "size": l.len()}))
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha_hex(l))).collect();
    for l in layers {
        files.push((format!("blobs/sha256/{}", sha_hex(l)), l.clone()));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let chex = sha_hex(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{chex}"), "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    let mhex = sha_hex(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"),
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    }))
    .unwrap();
    files.push((format!("blobs/sha256/{chex}"), config));
    files.push((format!("blobs/sha256/{mhex}"), manifest));
    files.push(("index.json".into(), index));
    files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    files
}
