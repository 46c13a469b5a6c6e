//! `mkaci inspect`: reads every appc compression, recomputes the ID, and
//! rejects each layout violation with its own error variant.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use mkaci::archive::{write_aci, ArchiveOptions, Compression};
use mkaci::check::inspect::{read_image, InspectError};
use mkaci::image::plan::{mode, Entry, FileSource, ImagePath, Node, Owner, Plan};
use sha2::{Digest, Sha512};

const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;

/// One raw tar entry: name bytes as written, type flag, data, link name.
struct E<'a> {
    name: &'a [u8],
    ty: u8,
    data: &'a [u8],
    link: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
    E { name: name.as_bytes(), ty: b'0', data, link: b"" }
}
fn dir(name: &str) -> E<'_> {
    E { name: name.as_bytes(), ty: b'5', data: b"", link: b"" }
}
fn hardlink<'a>(name: &'a str, target: &'a str) -> E<'a> {
    E { name: name.as_bytes(), ty: b'1', data: b"", link: target.as_bytes() }
}

/// Entries without the end-of-archive blocks; headers written by hand so that
/// any name (absolute, `..`) can be produced.
fn entries(es: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in es {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..e.name.len()].copy_from_slice(e.name);
        h.as_old_mut().linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(tar::EntryType::new(e.ty));
        h.set_mode(0o644);
        h.set_size(e.data.len() as u64);
        h.set_mtime(1);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out
}

fn tar_of(es: &[E<'_>]) -> Vec<u8> {
    let mut t = entries(es);
    t.extend_from_slice(&[0; 1024]);
    t
}

fn good() -> Vec<E<'static>> {
    vec![
        file("manifest", MANIFEST),
        dir("rootfs/"),
        dir("rootfs/etc/"),
        file("rootfs/etc/hosts", b"127.0.0.1 localhost\n"),
    ]
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
fn bzip2(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn sha(b: &[u8]) -> [u8; 64] {
    Sha512::digest(b).into()
}

#[test]
fn reads_every_compression_and_computes_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_of(&good());
    // GNU tar's record padding: zeros after the end blocks belong to the tar.
    let mut padded = tar.clone();
    padded.resize(10240, 0);
    let (a, b) = tar.split_at(1000);
    let multi = [gzip(a), gzip(b)].concat();
    let multi_bz = [bzip2(a), bzip2(b)].concat();
    let multi_xz = [xz(a), xz(b)].concat();
    for (name, bytes, want_tar, compression, members) in [
        ("plain.aci", tar.clone(), &tar, "none", 1),
        ("padded.aci", padded.clone(), &padded, "none", 1),
        ("gz.aci", gzip(&tar), &tar, "gzip", 1),
        ("multi.aci", multi, &tar, "gzip", 2),
        ("xz.aci", xz(&tar), &tar, "xz", 1),
        ("bz.aci", bzip2(&tar), &tar, "bzip2", 1),
        ("multibz.aci", multi_bz, &tar, "bzip2", 2),
        ("multixz.aci", multi_xz, &tar, "xz", 2),
        ("gz-padded.aci", gzip(&padded), &padded, "gzip", 1),
    ] {
        let p = put(tmp.path(), name, &bytes);
        let r = read_image(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.image_id.digest(), &sha(want_tar), "{name}");
        assert_eq!(r.tar_size, want_tar.len() as u64, "{name}");
        assert_eq!(r.compressed_size, bytes.len() as u64, "{name}");
        assert_eq!((r.compression, r.members), (compression, members), "{name}");
        assert_eq!(r.manifest_bytes, MANIFEST, "{name}");
        assert_eq!(r.entries, 4, "{name}");
        assert_eq!((r.rootfs.dirs, r.rootfs.files, r.rootfs.file_bytes), (2, 1, 20), "{name}");
    }
}

#[test]
fn reads_what_the_writer_wrote_with_the_same_id() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("big"), vec![3u8; 3 << 20]).unwrap();
    std::os::unix::fs::symlink("big", src.join("link")).unwrap();
    std::fs::write(src.join("n".repeat(180)), b"long").unwrap();
    let plan = Plan {
        entries: vec![
            Entry { path: ImagePath::new("etc").unwrap(), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
            Entry {
                path: ImagePath::new("etc/hosts").unwrap(),
                node: Node::File {
                    mode: mode::ETC_FILE,
                    owner: Owner::ROOT,
                    source: FileSource::Inline(b"x".to_vec()),
                },
            },
            Entry { path: ImagePath::new("s").unwrap(), node: Node::HostTree { source: src.clone() } },
        ],
    };
    for c in [Compression::gzip(6).unwrap(), Compression::xz(0).unwrap(), Compression::None] {
        let p = tmp.path().join("w.aci");
        let sum =
            write_aci(MANIFEST, &plan, &p, &ArchiveOptions { compression: c, threads: 2, machine: None }).unwrap();
        let r = read_image(&p).unwrap();
        assert_eq!(
            (r.image_id, r.tar_size, r.compressed_size, r.entries),
            (sum.image_id, sum.tar_size, sum.compressed_size, sum.entries)
        );
        assert_eq!((r.rootfs.dirs, r.rootfs.files, r.rootfs.symlinks), (3, 3, 1));
        assert_eq!(r.rootfs.largest_file, 3 << 20);
        if let Compression::Gzip { .. } = c {
            let chunks = sum.tar_size.div_ceil(mkaci::archive::CHUNK_SIZE as u64);
            assert_eq!(r.members, chunks, "3 MiB + headers: one member per chunk");
        }
    }
}

/// Each layout violation, and the variant it must produce.
#[test]
fn each_layout_violation_has_its_own_error() {
    let tmp = tempfile::tempdir().unwrap();
    let m = || file("manifest", MANIFEST);
    let r = || dir("rootfs/");
    let global = E { name: b"pax_global_header", ty: b'g', data: b"", link: b"" };
    let volume = E { name: b"rootfs/vol", ty: b'V', data: b"", link: b"" };
    type Check = fn(&InspectError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("global-pax", tar_of(&[global, m(), r()]), |e| matches!(e, InspectError::GlobalPaxHeader { index: 0 })),
        (
            "absolute",
            tar_of(&[m(), r(), file("/rootfs/x", b"")]),
            |e| matches!(e, InspectError::AbsoluteName { name } if name == "/rootfs/x"),
        ),
        (
            "dotdot",
            tar_of(&[m(), r(), file("rootfs/../x", b"")]),
            |e| matches!(e, InspectError::DotDot { name } if name == "rootfs/../x"),
        ),
        (
            "duplicate",
            tar_of(&[m(), r(), file("rootfs/a", b""), file("rootfs/./a", b"")]),
            |e| matches!(e, InspectError::Duplicate { name } if name == "rootfs/./a"),
        ),
        ("dup-dir", tar_of(&[m(), r(), dir("rootfs/d/"), dir("rootfs/d")]), |e| {
            matches!(e, InspectError::Duplicate { .. })
        }),
        (
            "dup-manifest",
            tar_of(&[m(), r(), m()]),
            |e| matches!(e, InspectError::Duplicate { name } if name == "manifest"),
        ),
        (
            "top-level",
            tar_of(&[m(), r(), file("etc/passwd", b"")]),
            |e| matches!(e, InspectError::UnexpectedTopLevel { name } if name == "etc/passwd"),
        ),
        (
            "top-level-dot",
            tar_of(&[dir("./"), m(), r()]),
            |e| matches!(e, InspectError::UnexpectedTopLevel { name } if name == "./"),
        ),
        ("manifest-dir", tar_of(&[dir("manifest/"), r()]), |e| {
            matches!(e, InspectError::ManifestNotFile { kind: "directory" })
        }),
        ("rootfs-file", tar_of(&[m(), file("rootfs", b"")]), |e| {
            matches!(e, InspectError::RootfsNotDir { kind: "regular file" })
        }),
        ("no-manifest", tar_of(&[r(), file("rootfs/a", b"")]), |e| matches!(e, InspectError::MissingManifest)),
        ("no-rootfs-dir", tar_of(&[m(), file("rootfs/a", b"")]), |e| matches!(e, InspectError::MissingRootfsDir)),
        (
            "hardlink-outside",
            tar_of(&[m(), r(), hardlink("rootfs/m", "manifest")]),
            |e| matches!(e, InspectError::HardLinkOutsideRootfs { target, .. } if target == "manifest"),
        ),
        (
            "hardlink-no-prefix",
            tar_of(&[m(), r(), file("rootfs/a", b"x"), hardlink("rootfs/b", "a")]),
            |e| matches!(e, InspectError::HardLinkOutsideRootfs { target, .. } if target == "a"),
        ),
        (
            "hardlink-later",
            tar_of(&[m(), r(), hardlink("rootfs/a", "rootfs/b"), file("rootfs/b", b"x")]),
            |e| matches!(e, InspectError::HardLinkTargetNotEarlier { target, .. } if target == "rootfs/b"),
        ),
        ("hardlink-dotdot", tar_of(&[m(), r(), hardlink("rootfs/a", "rootfs/../manifest")]), |e| {
            matches!(e, InspectError::DotDot { .. })
        }),
        ("volume-header", tar_of(&[m(), r(), volume]), |e| {
            matches!(e, InspectError::UnsupportedEntryType { kind: 'V', .. })
        }),
        ("no-end", entries(&good()), |e| matches!(e, InspectError::MissingEndOfArchive { .. })),
        ("one-end-block", [entries(&good()), vec![0; 512]].concat(), |e| {
            matches!(e, InspectError::MissingEndOfArchive { .. })
        }),
        (
            "data-after-end",
            [tar_of(&good()), b"junk".to_vec()].concat(),
            |e| matches!(e, InspectError::DataAfterEndOfArchive { offset } if *offset == 8 * 512),
        ),
        (
            "gz-data-after-end",
            gzip(&[tar_of(&good()), vec![0; 100], b"junk".to_vec()].concat()),
            |e| matches!(e, InspectError::DataAfterEndOfArchive { offset } if *offset == 8 * 512 + 100),
        ),
        ("gz-trailing", [gzip(&tar_of(&good())), b"garbage".to_vec()].concat(), |e| {
            matches!(e, InspectError::TrailingBytes { compression: "gzip", count: 7, .. })
        }),
        ("gz-trailing-zeros", [gzip(&tar_of(&good())), vec![0; 9]].concat(), |e| {
            matches!(e, InspectError::TrailingBytes { compression: "gzip", count: 9, .. })
        }),
        ("xz-trailing", [xz(&tar_of(&good())), b"garbage".to_vec()].concat(), |e| {
            matches!(e, InspectError::TrailingBytes { compression: "xz", count: 7, .. })
        }),
        ("bz-trailing", [bzip2(&tar_of(&good())), b"garbage".to_vec()].concat(), |e| {
            matches!(e, InspectError::TrailingBytes { compression: "bzip2", count: 7, .. })
        }),
        (
            "unknown",
            b"PK\x03\x04 not a tar".to_vec(),
            |e| matches!(e, InspectError::UnknownFormat { magic, .. } if magic.starts_with("50 4b 03 04")),
        ),
        ("empty", Vec::new(), |e| matches!(e, InspectError::UnknownFormat { magic, .. } if magic == "(empty file)")),
        ("zstd", vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0], |e| matches!(e, InspectError::Zstd { .. })),
        (
            "corrupt-gzip",
            {
                let mut g = gzip(&tar_of(&good()));
                // The CRC-32 in the trailer: every inflater reads the whole
                // stream and then refuses it (a byte changed inside the
                // stream is found by the tar reader first with some).
                let n = g.len();
                g[n - 5] ^= 0xff;
                g
            },
            |e| matches!(e, InspectError::Read { compression: "gzip", .. }),
        ),
        (
            "truncated-xz",
            {
                let x = xz(&tar_of(&good()));
                x[..x.len() - 10].to_vec()
            },
            |e| matches!(e, InspectError::Read { compression: "xz", .. }),
        ),
        (
            "manifest-too-large",
            tar_of(&[E { name: b"manifest", ty: b'0', data: &vec![b' '; (16 << 20) + 1], link: b"" }, r()]),
            |e| matches!(e, InspectError::ManifestTooLarge { size } if *size == (16 << 20) + 1),
        ),
    ];
    for (name, bytes, check) in cases {
        let p = put(tmp.path(), &format!("{name}.aci"), &bytes);
        match read_image(&p) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => {
                assert!(check(&e), "{name}: wrong error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn verify_compares_the_id_the_result_recorded() {
    use mkaci::check::verify::{check_report, VerifyError};
    use mkaci::image::plan::StoreLayout;
    use mkaci::result::{AciFiles, Artifact, ArtifactKind, Digests, ImageBase, Index, INDEX_FILE};
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_of(&good());
    let image = put(tmp.path(), "x-1-linux-amd64.aci", &gzip(&tar));
    let report = read_image(&image).unwrap();
    // Not in a result: the layout and manifest checks alone.
    let (_, recorded) = check_report(&image, &report).unwrap();
    assert!(recorded.is_empty());

    // In a result whose index records the ID, and the .id file it names.
    let id = format!("sha512-{}", sha(&tar).iter().map(|b| format!("{b:02x}")).collect::<String>());
    let files = AciFiles::new(&ImageBase::new(&"x".parse().unwrap(), Some("1"), "linux", "amd64"), false);
    let index = |image_id: &str| {
        Index::new(vec![Artifact {
            kind: ArtifactKind::Aci,
            name: "x".parse().unwrap(),
            version: Some("1".into()),
            os: "linux".into(),
            arch: "amd64".into(),
            store_layout: StoreLayout::Fat,
            sign: false,
            files: files.clone(),
            digests: Digests { image_id: image_id.parse().unwrap() },
            size: None,
            store_paths: Vec::new(),
        }])
        .to_json()
    };
    put(tmp.path(), INDEX_FILE, &index(&id));
    put(tmp.path(), files.manifest.as_str(), MANIFEST);
    put(tmp.path(), files.id.as_str(), format!("{id}\n").as_bytes());
    let (_, recorded) = check_report(&image, &report).unwrap();
    assert_eq!(recorded, [tmp.path().join(INDEX_FILE), tmp.path().join(files.id.as_str())]);

    // A link to the image checks against the result it points into.
    let elsewhere = tempfile::tempdir().unwrap();
    let link = elsewhere.path().join("x-1-linux-amd64.aci");
    std::os::unix::fs::symlink(&image, &link).unwrap();
    assert_eq!(check_report(&link, &report).unwrap().1.len(), 2);

    // A wrong ID in the .id file, then in the index.
    let wrong = format!("sha512-{}", "0".repeat(128));
    put(tmp.path(), files.id.as_str(), format!("{wrong}\n").as_bytes());
    match check_report(&image, &report) {
        Err(VerifyError::IdMismatch { recorded_in, .. }) => assert_eq!(recorded_in, tmp.path().join(files.id.as_str())),
        other => panic!("{other:?}"),
    }
    put(tmp.path(), INDEX_FILE, &index(&wrong));
    match check_report(&image, &report) {
        Err(VerifyError::IdMismatch { recorded_in, .. }) => assert_eq!(recorded_in, tmp.path().join(INDEX_FILE)),
        other => panic!("{other:?}"),
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mkaci")).args(["inspect", "--verify"]).arg(&link).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("says {wrong}")), "{stderr}");
}

#[test]
fn cli_prints_id_and_fails_on_bad_images() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_of(&good());
    let image = put(tmp.path(), "ok.aci", &xz(&tar));
    let out = Command::new(env!("CARGO_BIN_EXE_mkaci")).arg("inspect").arg(&image).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = format!("sha512-{}", sha(&tar).iter().map(|b| format!("{b:02x}")).collect::<String>());
    assert!(stdout.contains(&id), "{stdout}");
    assert!(stdout.contains("compression: xz"), "{stdout}");
    assert!(stdout.contains(std::str::from_utf8(MANIFEST).unwrap()));

    let bad = put(tmp.path(), "bad.aci", &tar_of(&[file("manifest", MANIFEST), dir("rootfs/"), file("/etc/x", b"")]));
    let out = Command::new(env!("CARGO_BIN_EXE_mkaci")).args(["inspect", "--verify"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"/etc/x\" has an absolute name"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}
