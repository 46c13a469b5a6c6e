//! The ACI and OCI layer writers against real tools: GNU tar extracts the
//! archive, `nix-store --dump` of source and copy must be byte-identical, actool
//! must accept the image, `sha256sum` must agree with the layer digests, and the
//! bytes must not depend on the run or the thread count (nor change at all: a
//! golden test holds the bytes of a fixed image).

mod common;
use common::need;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mkaci::archive::{
    write_aci, write_archive, write_layer, ArchiveError, ArchiveOptions, Compression, DigestSet, Framing, Sha256Digest,
};
use mkaci::image::plan::{mode, Entry, FileSource, ImagePath, Node, Owner, Plan};
use sha2::{Digest, Sha512};

const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;

/// Deterministic pseudo-random bytes (xorshift), compressible only a little.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half text-like, half random, so deflate has work of both kinds.
            if x.is_multiple_of(3) {
                b"abcdefgh\n"[(x >> 8) as usize % 9]
            } else {
                (x >> 24) as u8
            }
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A fake store with every shape a store path can have. Returns (store dir,
/// sorted store path names).
fn make_store(root: &Path) -> (PathBuf, Vec<&'static str>) {
    let store = root.join("store");
    std::fs::create_dir_all(&store).unwrap();

    // A directory store path with every shape inside.
    let t = store.join("aaaa-tree");
    for d in ["bin", "lib/deep/er", "empty", "share/empty-too"] {
        std::fs::create_dir_all(t.join(d)).unwrap();
    }
    write(&t.join("bin/exe"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&t.join("bin/only-user-exec"), b"x", 0o744);
    write(&t.join("lib/data"), b"data\n", 0o644);
    write(&t.join("lib/empty-file"), b"", 0o444);
    write(&t.join("lib/block"), &[7u8; 512], 0o444);
    write(&t.join("lib/chunk-crossing"), &noise((1 << 20) + 3, 1), 0o444);
    write(&t.join("lib/deep/er/random"), &noise(3 << 20, 2), 0o555);
    // Hard link: must come out as two independent regular files.
    std::fs::hard_link(t.join("lib/data"), t.join("lib/data-hardlink")).unwrap();
    std::os::unix::fs::symlink("data", t.join("lib/rel-link")).unwrap();
    std::os::unix::fs::symlink("../bin/exe", t.join("lib/up-link")).unwrap();
    std::os::unix::fs::symlink("/nix/store/zzzz-missing/bin/x", t.join("lib/dangling")).unwrap();
    std::os::unix::fs::symlink("empty", t.join("dir-link")).unwrap();
    let long_target = format!("{}/{}", "t".repeat(150), "u".repeat(80));
    std::os::unix::fs::symlink(&long_target, t.join("lib/long-target")).unwrap();
    // Long names: one 200-byte component, and a path well over 255 bytes.
    write(&t.join("n".repeat(200)), b"long name\n", 0o444);
    let deep = t.join("d".repeat(90)).join("e".repeat(90)).join("f".repeat(90));
    std::fs::create_dir_all(&deep).unwrap();
    write(&deep.join("g".repeat(120)), b"deep\n", 0o555);
    // Non-UTF-8 names, short and long, and a non-UTF-8 symlink target.
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    write(&t.join(latin1), b"latin-1 name\n", 0o444);
    let mut long_bin = b"\xff\xfe".to_vec();
    long_bin.extend(std::iter::repeat_n(b'z', 150));
    write(&t.join(OsStr::from_bytes(&long_bin)), b"binary long name\n", 0o444);
    std::os::unix::fs::symlink(OsStr::from_bytes(b"caf\xe9"), t.join("latin1-link")).unwrap();
    // A long, valid UTF-8, non-ASCII name: PAX without hdrcharset, which GNU
    // tar must not transliterate in a C locale.
    write(&t.join("\u{e9}".repeat(60)), b"utf-8 long name\n", 0o444);
    // Names that sort differently bytewise than by locale or depth-first rules.
    for n in ["B", "a", "a-b", "a.b", "\u{e9}t\u{e9}"] {
        write(&t.join("lib").join(n), n.as_bytes(), 0o444);
    }
    std::fs::create_dir(t.join("lib/a.d")).unwrap();
    write(&t.join("lib/a.d/x"), b"x", 0o444);
    // Store directories are read-only, as in the store.
    set_tree_readonly(&t);

    // A store path that is a single file, and one that is a symlink.
    write(&store.join("bbbb-file.txt"), b"a single-file store path\n", 0o444);
    std::os::unix::fs::symlink("aaaa-tree/bin/exe", store.join("cccc-link")).unwrap();
    (store, vec!["aaaa-tree", "bbbb-file.txt", "cccc-link"])
}

fn set_tree_readonly(p: &Path) {
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            set_tree_readonly(&e.path());
        }
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o555)).unwrap();
}

fn ip(s: &str) -> ImagePath {
    ImagePath::new(s).unwrap()
}

fn store_plan(store: &Path, names: &[&str]) -> Plan {
    let mut entries = vec![
        Entry { path: ip("etc"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
        Entry {
            path: ip("etc/hosts"),
            node: Node::File {
                mode: mode::ETC_FILE,
                owner: Owner::ROOT,
                source: FileSource::Inline(b"127.0.0.1 localhost\n".to_vec()),
            },
        },
        Entry { path: ip("nix"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
        Entry { path: ip("nix/store"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
    ];
    for n in names {
        entries.push(Entry { path: ip(&format!("nix/store/{n}")), node: Node::HostTree { source: store.join(n) } });
    }
    entries.push(Entry { path: ip("tmp"), node: Node::Dir { mode: mode::TMP, owner: Owner::ROOT } });
    let plan = Plan { entries };
    assert!(plan.is_ordered());
    plan
}

fn nar(path: &Path) -> Vec<u8> {
    let out = Command::new("nix-store").arg("--dump").arg(path).output().unwrap();
    assert!(out.status.success(), "nix-store --dump {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn extract(image: &Path, dir: &Path, locale: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("tar").arg("-xf").arg(image).arg("-C").arg(dir).env("LC_ALL", locale).output().unwrap();
    assert!(out.status.success(), "tar -xf: {}", String::from_utf8_lossy(&out.stderr));
}

/// actool accepts the image; skipped (with a message) where actool is missing.
fn actool_validate(image: &Path) {
    if !need("actool") {
        return;
    }
    let out = Command::new("actool").arg("validate").arg(image).output().unwrap();
    assert!(
        out.status.success(),
        "actool validate {}: {}{}",
        image.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn opts(compression: Compression, threads: usize) -> ArchiveOptions {
    ArchiveOptions { compression, threads, machine: None }
}

fn only_file(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn every_shape_round_trips_through_gnu_tar_for_each_compression() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    for (tag, c) in
        [("gz", Compression::gzip(6).unwrap()), ("xz", Compression::xz(1).unwrap()), ("none", Compression::None)]
    {
        let image = tmp.path().join(format!("img-{tag}.aci"));
        let sum = write_aci(MANIFEST, &plan, &image, &opts(c, 2)).unwrap();
        assert_eq!(sum.compressed_size, std::fs::metadata(&image).unwrap().len(), "{tag}");

        let out = tmp.path().join(format!("x-{tag}"));
        // GNU tar in a C locale and in a UTF-8 one: names must come out as raw bytes.
        let locale = if tag == "xz" { "C.UTF-8" } else { "C" };
        extract(&image, &out, locale);
        assert_eq!(std::fs::read(out.join("manifest")).unwrap(), MANIFEST);
        assert_eq!(std::fs::read(out.join("rootfs/etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
        let tmp_mode = std::fs::metadata(out.join("rootfs/tmp")).unwrap().permissions().mode();
        assert_eq!(tmp_mode & 0o7777, 0o1777, "{tag}: /tmp mode");
        for n in &names {
            let copy = out.join("rootfs/nix/store").join(n);
            if need("nix-store") {
                assert!(nar(&store.join(n)) == nar(&copy), "{tag}: nix-store --dump differs for {n}");
            }
        }
        // The hard link came out as an independent regular file.
        let hl = std::fs::symlink_metadata(out.join("rootfs/nix/store/aaaa-tree/lib/data-hardlink")).unwrap();
        assert!(hl.is_file());
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&hl), 1, "{tag}: hard link emitted");

        // The ID is the SHA-512 of the uncompressed tar.
        let tar = decompressed(&image);
        assert_eq!(tar.len() as u64, sum.tar_size, "{tag}");
        let digest: [u8; 64] = Sha512::digest(&tar).into();
        assert_eq!(sum.image_id.digest(), &digest, "{tag}");
        check_headers(&tar, sum.entries);
        actool_validate(&image);
    }
}

/// The uncompressed tar of an image, read with the system tools rather than our
/// own reader.
fn decompressed(image: &Path) -> Vec<u8> {
    let head = std::fs::read(image).unwrap();
    let tool = match head[..2] {
        [0x1f, 0x8b] => "gzip",
        [0xfd, 0x37] => "xz",
        _ => return head,
    };
    let out = Command::new(tool).arg("-dc").arg(image).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Every header as the writer promises: manifest then rootfs first, fixed mtime,
/// owners and names, no global PAX header, no hard links, store modes.
fn check_headers(tar_bytes: &[u8], entries: u64) {
    let mut ar = tar::Archive::new(tar_bytes);
    let mut n = 0u64;
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let name = e.path_bytes().into_owned();
        assert_eq!(h.mtime().unwrap(), 1);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        let ty = h.entry_type();
        assert!(ty.is_file() || ty.is_dir() || ty.is_symlink(), "unexpected type {ty:?}");
        let m = h.mode().unwrap();
        if name.starts_with(b"rootfs/nix/store/") && name.len() > b"rootfs/nix/store/".len() {
            let want: &[u32] = if ty.is_dir() {
                &[0o555]
            } else if ty.is_symlink() {
                &[0o777]
            } else {
                &[0o444, 0o555]
            };
            assert!(want.contains(&m), "{} has mode {m:o}", String::from_utf8_lossy(&name));
        }
        names.push(name);
        n += 1;
    }
    assert_eq!(n, entries);
    assert_eq!(names[0], b"manifest");
    assert_eq!(names[1], b"rootfs/");
}

#[test]
fn same_input_same_bytes_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    for (tag, c, threads) in [
        ("gz", Compression::gzip(6).unwrap(), [1usize, 1, 2, 7, 16]),
        ("xz", Compression::xz(0).unwrap(), [1, 1, 2, 7, 16]),
        ("none", Compression::None, [1, 1, 2, 7, 16]),
    ] {
        let mut outputs = Vec::new();
        for (i, t) in threads.iter().enumerate() {
            let image = tmp.path().join(format!("{tag}-{i}.aci"));
            let sum = write_aci(MANIFEST, &plan, &image, &opts(c, *t)).unwrap();
            outputs.push((sum, std::fs::read(&image).unwrap()));
        }
        for (sum, bytes) in &outputs[1..] {
            assert_eq!(sum, &outputs[0].0, "{tag}");
            assert!(bytes == &outputs[0].1, "{tag}: bytes differ between runs or thread counts");
        }
        if tag == "gz" {
            // One independent member per chunk: the 4+ MiB tar spans several.
            let members = count_gzip_members(&outputs[0].1);
            let chunks = outputs[0].0.tar_size.div_ceil(mkaci::archive::CHUNK_SIZE as u64) as usize;
            assert!(members == chunks && members >= 3, "{members} gzip members for {chunks} chunks");
        }
        if tag == "xz" {
            // The xz stream has independent blocks even with one thread.
            let xz = tmp.path().join("xz-0.aci");
            let out = Command::new("xz").args(["--robot", "--list"]).arg(&xz).output().unwrap();
            let list = String::from_utf8_lossy(&out.stdout);
            let blocks: u64 =
                list.lines().find(|l| l.starts_with("file\t")).unwrap().split('\t').nth(2).unwrap().parse().unwrap();
            assert!(blocks >= 2, "xz blocks: {list}");
        }
    }
}

/// Members counted by decoding one at a time; also checks nothing trails them.
fn count_gzip_members(gz: &[u8]) -> usize {
    let mut rest = gz;
    let mut n = 0;
    while !rest.is_empty() {
        assert_eq!(&rest[..2], &[0x1f, 0x8b], "member {n} does not start with gzip magic");
        // No file name flag, mtime 0: nothing machine- or time-dependent.
        assert_eq!(rest[3], 0, "FLG of member {n}");
        assert_eq!(&rest[4..8], &[0, 0, 0, 0], "MTIME of member {n}");
        let mut d = flate2::bufread::GzDecoder::new(rest);
        std::io::copy(&mut d, &mut std::io::sink()).unwrap();
        rest = d.into_inner();
        n += 1;
    }
    n
}

#[test]
fn multi_member_gzip_reads_with_flate2_multigz() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let image = tmp.path().join("m.aci");
    let sum =
        write_aci(MANIFEST, &store_plan(&store, &names), &image, &opts(Compression::gzip(1).unwrap(), 2)).unwrap();
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&image).unwrap()).read_to_end(&mut tar).unwrap();
    assert_eq!(tar.len() as u64, sum.tar_size);
    let digest: [u8; 64] = Sha512::digest(&tar).into();
    assert_eq!(sum.image_id.digest(), &digest);
}

#[test]
fn size_change_is_an_error_naming_the_file_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("f");
    std::fs::write(&src, b"12345").unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for planned in [4u64, 6, 5 << 20] {
        let plan = Plan {
            entries: vec![Entry {
                path: ip("f"),
                node: Node::File {
                    mode: mode::ETC_FILE,
                    owner: Owner::ROOT,
                    source: FileSource::Host { path: src.clone(), size: planned },
                },
            }],
        };
        for c in [Compression::gzip(6).unwrap(), Compression::xz(0).unwrap(), Compression::None] {
            let err = write_aci(MANIFEST, &plan, &out.join("i.aci"), &opts(c, 2)).unwrap_err();
            match &err {
                ArchiveError::SizeChanged { path, planned: p, actual } => {
                    assert_eq!((path, *p, *actual), (&src, planned, 5));
                }
                e => panic!("unexpected {e:?}"),
            }
            assert!(err.to_string().contains(&src.display().to_string()));
            assert_eq!(only_file(&out), Vec::<String>::new(), "temp file left behind");
        }
    }
}

#[test]
fn unsupported_file_types_and_missing_sources_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), vec![1u8; 3 << 20]).unwrap();
    let fifo = tree.join("b-fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let plan = Plan { entries: vec![Entry { path: ip("t"), node: Node::HostTree { source: tree.clone() } }] };
    let err = write_aci(MANIFEST, &plan, &out.join("i.aci"), &opts(Compression::gzip(6).unwrap(), 2)).unwrap_err();
    assert!(matches!(&err, ArchiveError::UnsupportedFileType { path, kind: "named pipe" } if path == &fifo), "{err:?}");
    assert_eq!(only_file(&out), Vec::<String>::new());

    let missing = tmp.path().join("missing");
    let plan = Plan { entries: vec![Entry { path: ip("t"), node: Node::HostTree { source: missing.clone() } }] };
    let err = write_aci(MANIFEST, &plan, &out.join("i.aci"), &opts(Compression::None, 1)).unwrap_err();
    assert!(matches!(&err, ArchiveError::Read { path, .. } if path == &missing), "{err:?}");
    assert_eq!(only_file(&out), Vec::<String>::new());

    let err = write_aci(MANIFEST, &Plan::default(), &tmp.path().join("no/such/dir/i.aci"), &opts(Compression::None, 1))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::Create { .. }), "{err:?}");
}

/// A zstd layer is the same bytes for any thread count, one frame per chunk,
/// and the real `zstd` tool decompresses it to the tar its `diff_id` names.
#[test]
fn zstd_layers_are_the_same_bytes_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    let c = Compression::zstd(3).unwrap();
    let mut outputs = Vec::new();
    for (i, t) in [1usize, 1, 2, 7, 16].iter().enumerate() {
        let dest = tmp.path().join(format!("layer-{i}.tar.zst"));
        let sum = write_layer(&plan, &dest, &opts(c, *t)).unwrap();
        outputs.push((sum, std::fs::read(&dest).unwrap()));
    }
    for (sum, bytes) in &outputs[1..] {
        assert_eq!(sum, &outputs[0].0);
        assert!(bytes == &outputs[0].1, "zstd: bytes differ between runs or thread counts");
    }
    let (sum, bytes) = &outputs[0];
    assert_eq!(bytes[..4], [0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    assert_eq!(Sha256Digest::from_bytes(sha2::Sha256::digest(bytes).into()), sum.digest);
    assert!(sum.tar_size > 2 * mkaci::archive::CHUNK_SIZE as u64, "the test tar spans several chunks");
    if !need("zstd") {
        return;
    }
    let out = Command::new("zstd").args(["-d", "-c"]).arg(tmp.path().join("layer-0.tar.zst")).output().unwrap();
    assert!(out.status.success(), "zstd -d: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len() as u64, sum.tar_size);
    assert_eq!(Sha256Digest::from_bytes(sha2::Sha256::digest(&out.stdout).into()), sum.diff_id);
    // The frames are independent: `zstd -l` counts one per chunk.
    let list = Command::new("zstd").args(["-l", "-v"]).arg(tmp.path().join("layer-0.tar.zst")).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let frames: u64 =
        list.lines().find_map(|l| l.trim().strip_prefix("# Zstandard Frames: ")).unwrap().parse().unwrap();
    assert_eq!(frames, sum.tar_size.div_ceil(mkaci::archive::CHUNK_SIZE as u64), "{list}");
}

/// appc has no zstd: an ACI asked to be zstd-compressed is refused, naming
/// the argument, and nothing is written.
#[test]
fn acis_refuse_zstd() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("i.aci");
    let err = write_aci(MANIFEST, &Plan::default(), &dest, &opts(Compression::zstd(3).unwrap(), 1)).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsupportedAciCompression { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("compression: an ACI cannot be compressed with zstd") && msg.contains("\"gzip\""), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn bad_levels_cannot_reach_the_writer() {
    // A level is checked when the Compression is made; the writer takes only
    // valid ones.
    for (c, want) in [
        (Compression::gzip(0), "gzip level 0"),
        (Compression::gzip(13), "gzip level 13"),
        (Compression::xz(10), "xz level 10"),
        (Compression::zstd(0), "zstd level 0"),
        (Compression::zstd(23), "zstd level 23"),
    ] {
        let err = c.unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
}

#[test]
fn empty_plan_is_a_valid_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("i.aci");
    let sum = write_aci(MANIFEST, &Plan::default(), &dest, &ArchiveOptions::default()).unwrap();
    assert_eq!(sum.entries, 2);
    // manifest header + data block + rootfs header + 2 end blocks.
    assert_eq!(sum.tar_size, 5 * 512);
    actool_validate(&dest);
}

#[test]
fn concurrent_writers_to_one_destination_leave_one_whole_image() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dest = out.join("i.aci");
    let plan_of = |n: u8| Plan {
        entries: vec![Entry {
            path: ip("f"),
            node: Node::File { mode: mode::ETC_FILE, owner: Owner::ROOT, source: FileSource::Inline(vec![n; 3 << 20]) },
        }],
    };
    let ids: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u8)
            .map(|n| {
                let (dest, plan) = (&dest, plan_of(n));
                s.spawn(move || {
                    write_aci(MANIFEST, &plan, dest, &opts(Compression::gzip(1).unwrap(), 2)).unwrap().image_id
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(only_file(&out), vec!["i.aci".to_string()]);
    let digest: [u8; 64] = Sha512::digest(decompressed(&dest)).into();
    assert!(ids.iter().any(|id| id.digest() == &digest), "the image is one writer's whole output");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of existing images must never change: any change to framing,
/// chunking, compression settings or headers alters image IDs. SHA-256 of the
/// whole `.aci` file written from [`make_store`], per compression and thread
/// count.
#[test]
fn golden_image_bytes() {
    const GOLDEN: [(&str, &str); 3] = [
        ("gz", "1cff1d63b5f2c219a76cf26a38516a22466b27ec27fb4a40c4e9eb71e49aea1d"),
        ("xz", "389187c07d26da726edc067daa8c0d57d9a61028b22e9c5839ab8c1121ec5a09"),
        ("none", "31a1156063e2dda84676df9d53265802a3538b47b16c15695939202c9c96c4f2"),
    ];
    // The image ID of all of them (SHA-512 of the uncompressed tar).
    const GOLDEN_ID: &str = "sha512-ad3118c0661d00cfd9535b0520083afee156f07a8185d946109a38749851691b7c0898ff01c38161a2bc264a8a0b18eb7c8ab297a854a9ba104f21b4aade7116";
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    let mut got = Vec::new();
    for (tag, want) in GOLDEN {
        let c = match tag {
            "gz" => Compression::gzip(6).unwrap(),
            "xz" => Compression::xz(1).unwrap(),
            _ => Compression::None,
        };
        for threads in [1, 2, 5] {
            let image = tmp.path().join(format!("golden-{tag}-{threads}.aci"));
            let sum = write_aci(MANIFEST, &plan, &image, &opts(c, threads)).unwrap();
            if sum.image_id.to_string() != GOLDEN_ID {
                got.push(format!("{tag} threads={threads}: image ID {}", sum.image_id));
                got.push("  ^ differs from the golden image ID".to_string());
            }
            let h = hex(&sha2::Sha256::digest(std::fs::read(&image).unwrap()));
            got.push(format!("{tag} threads={threads}: {h}"));
            if h != want {
                got.push("  ^ differs from the golden hash".to_string());
            }
        }
    }
    assert!(!got.iter().any(|l| l.starts_with("  ^")), "image bytes changed:\n{}", got.join("\n"));
}

/// Names in a tar, as GNU tar lists them (C locale, raw bytes).
fn tar_names(file: &Path) -> Vec<Vec<u8>> {
    let out = Command::new("tar").arg("-tf").arg(file).env("LC_ALL", "C").output().unwrap();
    assert!(out.status.success(), "tar -tf: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

/// `sha256:` and the hex SHA-256 of what a shell pipeline prints.
fn sha256_of_command(script: &str, file: &Path) -> String {
    let out = Command::new("sh").arg("-c").arg(script).arg("sh").arg(file).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

#[test]
fn layer_has_the_plan_at_the_top_level_and_its_digests_match_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    // The ACI's rootfs, as names under rootfs/: the layer must hold exactly these.
    let aci = tmp.path().join("ref.aci");
    write_aci(MANIFEST, &plan, &aci, &opts(Compression::None, 1)).unwrap();
    let want: Vec<Vec<u8>> =
        tar_names(&aci).into_iter().skip(2).map(|n| n.strip_prefix(b"rootfs/").unwrap().to_vec()).collect();
    assert_eq!(want[0], b"etc/");

    for (tag, c) in [("gz", Compression::gzip(6).unwrap()), ("none", Compression::None)] {
        let layer = tmp.path().join(format!("layer-{tag}.tar"));
        let sum = write_layer(&plan, &layer, &opts(c, 2)).unwrap();
        assert_eq!(sum.compressed_size, std::fs::metadata(&layer).unwrap().len(), "{tag}");
        let got = tar_names(&layer);
        assert!(got == want, "{tag}: layer names differ from the ACI rootfs");
        assert!(!got.iter().any(|n| n.starts_with(b"rootfs") || n == b"manifest"), "{tag}");
        assert_eq!(sum.entries, want.len() as u64, "{tag}");

        // diff_id: SHA-256 of the uncompressed stream; digest: of the file.
        let diff_id = sha256_of_command(r#"gzip -dcf "$1" | sha256sum"#, &layer);
        let digest = sha256_of_command(r#"sha256sum "$1""#, &layer);
        assert_eq!(sum.diff_id.to_string(), diff_id, "{tag}: diff_id");
        assert_eq!(sum.digest.to_string(), digest, "{tag}: blob digest");
        if tag == "none" {
            assert_eq!(sum.diff_id, sum.digest);
            assert_eq!(sum.tar_size, sum.compressed_size);
        } else {
            assert_ne!(sum.diff_id, sum.digest);
        }
        let tar = decompressed(&layer);
        assert_eq!(tar.len() as u64, sum.tar_size, "{tag}");

        // Extracted, every store path is byte-identical (as a NAR) to its source.
        let out = tmp.path().join(format!("lx-{tag}"));
        extract(&layer, &out, "C");
        assert_eq!(std::fs::read(out.join("etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
        assert!(!out.join("manifest").exists() && !out.join("rootfs").exists(), "{tag}");
        for n in &names {
            if need("nix-store") {
                assert!(nar(&store.join(n)) == nar(&out.join("nix/store").join(n)), "{tag}: {n} differs");
            }
        }
    }
}

#[test]
fn layer_bytes_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    for (tag, c) in [("gz", Compression::gzip(6).unwrap()), ("none", Compression::None)] {
        let mut outputs = Vec::new();
        for t in [1, 4] {
            let layer = tmp.path().join(format!("{tag}-{t}.tar"));
            let sum = write_layer(&plan, &layer, &opts(c, t)).unwrap();
            outputs.push((sum, std::fs::read(&layer).unwrap()));
        }
        assert_eq!(outputs[0].0, outputs[1].0, "{tag}");
        assert!(outputs[0].1 == outputs[1].1, "{tag}: layer bytes differ between 1 and 4 threads");
        if tag == "gz" {
            let chunks = outputs[0].0.tar_size.div_ceil(mkaci::archive::CHUNK_SIZE as u64) as usize;
            assert!(count_gzip_members(&outputs[0].1) == chunks && chunks >= 3);
        }
    }
}

#[test]
fn digests_display_as_oci_writes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("empty.tar");
    let sum = write_layer(&Plan::default(), &dest, &opts(Compression::None, 1)).unwrap();
    // An empty layer is the two end-of-archive blocks: 1024 zero bytes.
    assert_eq!((sum.tar_size, sum.entries), (1024, 0));
    assert_eq!(std::fs::read(&dest).unwrap(), vec![0u8; 1024]);
    assert_eq!(
        sum.diff_id.to_string(),
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
        "SHA-256 of 1024 zero bytes"
    );
    assert_eq!(sum.digest, Sha256Digest::from_bytes(*sum.diff_id.as_bytes()));
    assert!(tar_names(&dest).is_empty());
}

/// What went wrong, for the table below.
#[derive(Debug, PartialEq)]
enum Want {
    UnsupportedLayerCompression,
    ReadMissing,
    SizeChanged { planned: u64, actual: u64 },
    Create,
}

fn classify(err: &ArchiveError, missing: &Path, src: &Path) -> Want {
    match err {
        ArchiveError::UnsupportedLayerCompression { compression: Compression::Xz { .. } } => {
            Want::UnsupportedLayerCompression
        }
        ArchiveError::Read { path, .. } if path == missing => Want::ReadMissing,
        ArchiveError::SizeChanged { path, planned, actual } if path == src => {
            Want::SizeChanged { planned: *planned, actual: *actual }
        }
        ArchiveError::Create { .. } => Want::Create,
        e => panic!("unexpected error {e:?}"),
    }
}

#[test]
fn layer_errors_are_typed_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let missing = tmp.path().join("missing");
    let src = tmp.path().join("f");
    std::fs::write(&src, b"12345").unwrap();
    let host_file = |planned| Plan {
        entries: vec![Entry {
            path: ip("f"),
            node: Node::File {
                mode: mode::ETC_FILE,
                owner: Owner::ROOT,
                source: FileSource::Host { path: src.clone(), size: planned },
            },
        }],
    };
    let missing_tree =
        Plan { entries: vec![Entry { path: ip("t"), node: Node::HostTree { source: missing.clone() } }] };
    let gz = Compression::gzip(6).unwrap();
    let dest = out.join("l.tar");
    let nowhere = tmp.path().join("no/such/dir/l.tar");
    let table: Vec<(&str, Plan, Compression, &Path, Want)> = vec![
        ("xz", Plan::default(), Compression::xz(6).unwrap(), &dest, Want::UnsupportedLayerCompression),
        ("missing source", missing_tree, gz, &dest, Want::ReadMissing),
        ("file shrank", host_file(6), gz, &dest, Want::SizeChanged { planned: 6, actual: 5 }),
        ("file grew", host_file(4), Compression::None, &dest, Want::SizeChanged { planned: 4, actual: 5 }),
        ("grew past a chunk", host_file(5 << 20), gz, &dest, Want::SizeChanged { planned: 5 << 20, actual: 5 }),
        ("no directory", Plan::default(), Compression::None, &nowhere, Want::Create),
    ];
    for (name, plan, c, dest, want) in table {
        let err = write_layer(&plan, dest, &opts(c, 2)).unwrap_err();
        assert_eq!(classify(&err, &missing, &src), want, "{name}: {err}");
        assert_eq!(only_file(&out), Vec::<String>::new(), "{name}: file left behind");
    }
}

#[test]
fn asking_for_more_digests_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, names) = make_store(tmp.path());
    let plan = store_plan(&store, &names);
    let every = DigestSet { sha512_tar: true, sha256_tar: true, sha256_compressed: true };
    for (tag, c) in
        [("gz", Compression::gzip(6).unwrap()), ("xz", Compression::xz(1).unwrap()), ("none", Compression::None)]
    {
        let aci = tmp.path().join(format!("{tag}.aci"));
        let sum = write_aci(MANIFEST, &plan, &aci, &opts(c, 2)).unwrap();
        let all = tmp.path().join(format!("{tag}-all.aci"));
        let a = write_archive(Framing::Aci { manifest: MANIFEST }, &plan, &all, &opts(c, 2), every).unwrap();
        assert!(std::fs::read(&aci).unwrap() == std::fs::read(&all).unwrap(), "{tag}: bytes differ");
        assert_eq!(a.written.sha512_tar.as_ref(), Some(sum.image_id.digest()), "{tag}");
        assert_eq!(
            (a.written.tar_size, a.written.compressed_size, a.entries),
            (sum.tar_size, sum.compressed_size, sum.entries)
        );
        let sha256_tar = format!("sha256:{}", hex(&sha2::Sha256::digest(decompressed(&all))));
        assert_eq!(a.written.sha256_tar.map(|d| d.to_string()), Some(sha256_tar), "{tag}");
        let sha256_file = sha256_of_command(r#"sha256sum "$1""#, &all);
        assert_eq!(a.written.sha256_compressed.map(|d| d.to_string()), Some(sha256_file), "{tag}");

        // Nothing asked, nothing computed; the bytes are still the same.
        let none = tmp.path().join(format!("{tag}-none.aci"));
        let a = write_archive(Framing::Aci { manifest: MANIFEST }, &plan, &none, &opts(c, 2), DigestSet::default())
            .unwrap();
        assert_eq!((a.written.sha512_tar, a.written.sha256_tar, a.written.sha256_compressed), (None, None, None));
        assert!(std::fs::read(&aci).unwrap() == std::fs::read(&none).unwrap(), "{tag}: bytes differ");
    }
}
