//! Hostile inputs to the readers (`mkaci inspect`, `mkaci verify` of ACIs,
//! OCI layouts and docker-archives), each generated here byte by byte: what
//! two readers could read differently is refused, and every read of
//! untrusted data has a limit. The memory cases run the mkaci binary and
//! assert its peak RSS (from `wait4`) stays under 256 MiB; run with
//! `--nocapture` to see each case's peak.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tars::*;
use mkaci::check::inspect::{read_image, InspectError};
use mkaci::check::tar::TarError;

const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;

/// Peak RSS allowed for any input.
const RSS_LIMIT_KIB: i64 = 256 << 10;

/// `manifest` and `rootfs/`, the start of every image here.
fn start() -> Vec<u8> {
    let mut t = Vec::new();
    put(&mut t, b"manifest", b'0', MANIFEST, b"");
    put(&mut t, b"rootfs/", b'5', b"", b"");
    t
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn refused(dir: &Path, name: &str, tar: Vec<u8>) -> InspectError {
    let p = write(dir, name, &end(tar));
    match read_image(&p) {
        Ok(_) => panic!("{name}: accepted"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

/// Runs mkaci with `args`; its exit status, stderr and peak RSS in KiB.
///
/// The peak comes from a small python3 parent (`getrusage` of its reaped
/// child): Linux keeps a process's peak across `exec`, so a child spawned
/// straight from this test binary would report this binary's memory too.
/// The figure may include python's own few MiB, never less than mkaci's.
fn run_measured(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (bool, String, i64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n\
        print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let mut c = Command::new("python3");
    c.args(["-c", MEASURE, common::MKACI]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("python3 runs (scripts/check-layers needs it too)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let rc: i32 = words.next().and_then(|w| w.parse().ok()).expect("python3 printed the exit status");
    let rss: i64 = words.next().and_then(|w| w.parse().ok()).expect("python3 printed the peak RSS");
    (rc == 0, common::stderr(&out), rss)
}

/// `mkaci ARGS PATH` fails with all `needles` in its error, within the RSS limit.
fn refused_within_limit(case: &str, args: &[&str], path: &Path, needles: &[&str]) -> i64 {
    let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
    a.push(path.as_os_str());
    let (ok, err, rss) = run_measured(&a, &[]);
    eprintln!("peak RSS {case}: {} KiB ({} MiB)", rss, rss >> 10);
    assert!(!ok, "{case}: accepted");
    assert!(!err.contains("panicked"), "{case}: {err}");
    for n in needles {
        assert!(err.contains(n), "{case}: {n:?} not in {err}");
    }
    assert!(rss < RSS_LIMIT_KIB, "{case}: peak RSS {rss} KiB");
    rss
}

// One reading for everyone.

#[test]
fn a_nul_in_a_long_name_or_pax_path_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let mut a = start();
    put(&mut a, b"rootfs/bin/", b'5', b"", b"");
    put(&mut a, b"rootfs/bin/sh", b'0', b"good", b"");
    long(&mut a, b'L', b"rootfs/bin/sh\0evil\0");
    put(&mut a, b"ignored", b'0', b"evil", b"");
    let e = refused(t.path(), "nul-long.aci", a);
    assert!(
        matches!(&e, InspectError::Tar(TarError::NulInName { field: "long name", name, .. }) if name.starts_with("rootfs/bin/sh")),
        "{e:?}"
    );
    let mut b = start();
    pax(&mut b, &[(b"path", b"rootfs/sh\0x")]);
    put(&mut b, b"rootfs/x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "nul-pax.aci", b), InspectError::Tar(TarError::NulInName { .. })));
    let mut c = start();
    long(&mut c, b'K', b"rootfs/a\0b");
    put(&mut c, b"rootfs/l", b'2', b"", b"x");
    assert!(matches!(refused(t.path(), "nul-link.aci", c), InspectError::Tar(TarError::NulInName { .. })));
    // One trailing NUL ends the name, as GNU tar and Go write it; more would
    // be read differently by the tar crate (it drops one).
    let mut ok = start();
    long(&mut ok, b'L', &[b"rootfs/".as_slice(), &[b'n'; 200], b"\0"].concat());
    put(&mut ok, b"x", b'0', b"", b"");
    read_image(&write(t.path(), "long-ok.aci", &end(ok))).unwrap();
    let mut two = start();
    long(&mut two, b'L', &[b"rootfs/".as_slice(), &[b'n'; 200], b"\0\0"].concat());
    put(&mut two, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "two-nuls.aci", two), InspectError::Tar(TarError::NulInName { .. })));
}

#[test]
fn an_entry_below_a_symlink_or_a_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let mut a = start();
    put(&mut a, b"rootfs/x", b'2', b"", b"/etc");
    put(&mut a, b"rootfs/x/passwd", b'0', b"root::0:0::/:/bin/sh\n", b"");
    let e = refused(t.path(), "below-symlink.aci", a);
    assert!(
        matches!(&e, InspectError::BelowNonDirectory { parent, kind: "symlink", .. } if parent == "rootfs/x"),
        "{e:?}"
    );
    assert!(e.to_string().contains("rootfs/x/passwd"));
    let mut b = start();
    put(&mut b, b"rootfs/f", b'0', b"", b"");
    put(&mut b, b"rootfs/./f/g", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "below-file.aci", b), InspectError::BelowNonDirectory { .. }));
    // Through a hard link to a symlink, too.
    let mut c = start();
    put(&mut c, b"rootfs/s", b'2', b"", b"/");
    put(&mut c, b"rootfs/h", b'1', b"", b"rootfs/s");
    put(&mut c, b"rootfs/h/etc", b'5', b"", b"");
    assert!(matches!(refused(t.path(), "below-hardlink.aci", c), InspectError::BelowNonDirectory { .. }));
    // A parent that has no entry of its own (readers invent its mode).
    let mut d = start();
    put(&mut d, b"rootfs/a/b", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "no-parent.aci", d), InspectError::MissingParent { .. }));
    // A symlink placed over a directory that already holds entries.
    let mut e2 = start();
    put(&mut e2, b"rootfs/d/", b'5', b"", b"");
    put(&mut e2, b"rootfs/d/f", b'0', b"", b"");
    put(&mut e2, b"rootfs/d", b'2', b"", b"/etc");
    assert!(matches!(refused(t.path(), "dir-then-symlink.aci", e2), InspectError::Duplicate { .. }));
}

#[test]
fn entries_that_normalise_to_one_name_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for (case, second) in [("slashes", &b"rootfs//etc"[..]), ("dot", b"./rootfs/./etc/"), ("trailing", b"rootfs/etc/.")]
    {
        let mut a = start();
        put(&mut a, b"rootfs/etc/", b'5', b"", b"");
        put(&mut a, second, b'5', b"", b"");
        assert!(matches!(refused(t.path(), &format!("{case}.aci"), a), InspectError::Duplicate { .. }), "{case}");
    }
    // A long name and a PAX path both naming one entry.
    let mut b = start();
    long(&mut b, b'L', b"rootfs/a\0");
    pax(&mut b, &[(b"path", b"rootfs/b")]);
    put(&mut b, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "both.aci", b), InspectError::Tar(TarError::NameTwice { .. })));
}

#[test]
fn headers_readers_disagree_on_are_refused() {
    let t = tempfile::tempdir().unwrap();
    // Data on a symlink: Go reads the next header right after it, the tar
    // crate after the "data", which here is a hidden entry.
    let mut hidden = Vec::new();
    put(&mut hidden, b"rootfs/hidden", b'0', b"evil", b"");
    let mut a = start();
    a.extend_from_slice(&header(b"rootfs/l", b'2', hidden.len() as u64, b"target", false));
    a.extend_from_slice(&hidden);
    assert!(matches!(
        refused(t.path(), "data-on-symlink.aci", a),
        InspectError::Tar(TarError::DataOnHeaderOnlyEntry { .. })
    ));
    // Two PAX headers for one entry (Go keeps the last).
    let mut b = start();
    pax(&mut b, &[(b"path", b"rootfs/a")]);
    pax(&mut b, &[(b"path", b"rootfs/b")]);
    put(&mut b, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "two-pax.aci", b), InspectError::Tar(TarError::TwoExtensions { .. })));
    // Two long names.
    let mut c = start();
    long(&mut c, b'L', b"rootfs/a");
    long(&mut c, b'L', b"rootfs/b");
    put(&mut c, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "two-long.aci", c), InspectError::Tar(TarError::TwoExtensions { .. })));
    // A PAX sparse map (Go reads the data as a sparse map).
    let mut d = start();
    pax(&mut d, &[(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0")]);
    put(&mut d, b"rootfs/s", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "sparse.aci", d), InspectError::Tar(TarError::SparsePax { .. })));
    // A repeated PAX key.
    let mut e = start();
    pax(&mut e, &[(b"path", b"rootfs/a"), (b"path", b"rootfs/b")]);
    put(&mut e, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "dup-key.aci", e), InspectError::Tar(TarError::DuplicatePaxKey { .. })));
    // An old-style file whose name ends in "/" (Go: a directory).
    let mut f = start();
    let mut h = header(b"rootfs/d/", b'0', 0, b"", false);
    h[156] = 0;
    recksum(&mut h);
    f.extend_from_slice(&h);
    assert!(matches!(refused(t.path(), "rega-dir.aci", f), InspectError::Tar(TarError::AmbiguousType { .. })));
    // A size field with a NUL inside (Go refuses it, the tar crate reads 8).
    let mut g = start();
    let mut h = header(b"rootfs/n", b'0', 8, b"", false);
    h[124..136].copy_from_slice(b"0000010\x00777\0");
    recksum(&mut h);
    g.extend_from_slice(&h);
    g.extend_from_slice(&[0; 512]);
    assert!(matches!(
        refused(t.path(), "size-nul.aci", g),
        InspectError::Tar(TarError::BadNumber { field: "size", .. })
    ));
    // Bytes in a ustar header's padding (Go: a STAR header).
    let mut s = start();
    let mut h = header(b"rootfs/s", b'0', 0, b"", false);
    h[508..512].copy_from_slice(b"tar\0");
    recksum(&mut h);
    s.extend_from_slice(&h);
    assert!(matches!(refused(t.path(), "star.aci", s), InspectError::Tar(TarError::StarHeader { .. })));
    // A hard link to a directory, a contiguous file.
    let mut l = start();
    put(&mut l, b"rootfs/d/", b'5', b"", b"");
    put(&mut l, b"rootfs/h", b'1', b"", b"rootfs/d");
    assert!(matches!(refused(t.path(), "hardlink-dir.aci", l), InspectError::HardLinkToDirectory { .. }));
    let mut c7 = start();
    put(&mut c7, b"rootfs/c", b'7', b"x", b"");
    assert!(matches!(refused(t.path(), "contiguous.aci", c7), InspectError::UnsupportedEntryType { kind: '7', .. }));
    // A PAX header at the end, describing nothing.
    let mut z = start();
    pax(&mut z, &[(b"path", b"rootfs/a")]);
    assert!(matches!(refused(t.path(), "dangling.aci", z), InspectError::Tar(TarError::DanglingExtension { .. })));
}

// Bounded.

#[test]
fn long_names_and_pax_headers_are_refused_from_their_size() {
    let t = tempfile::tempdir().unwrap();
    // 64 KiB is read; one byte more is not.
    let mut ok = start();
    let name = [b"rootfs/".as_slice(), &vec![b'n'; (64 << 10) - 7]].concat();
    long(&mut ok, b'L', &name);
    put(&mut ok, b"x", b'0', b"", b"");
    read_image(&write(t.path(), "64k.aci", &end(ok))).unwrap();
    let mut over = start();
    long(&mut over, b'L', &[name.as_slice(), b"n"].concat());
    put(&mut over, b"x", b'0', b"", b"");
    let e = refused(t.path(), "64k+1.aci", over);
    assert!(matches!(e, InspectError::Tar(TarError::NameTooLong { size, .. }) if size == (64 << 10) + 1), "{e:?}");
    let mut p = start();
    pax(&mut p, &[(b"comment", &vec![b'c'; 1 << 20])]);
    put(&mut p, b"x", b'0', b"", b"");
    assert!(matches!(refused(t.path(), "pax-1m.aci", p), InspectError::Tar(TarError::PaxTooLarge { .. })));
    // The entry limit, lowered through its variable, is named with it.
    let mut many = start();
    for i in 0..20 {
        put(&mut many, format!("rootfs/f{i}").as_bytes(), b'0', b"", b"");
    }
    let img = write(t.path(), "many.aci", &end(many));
    let (ok, err, _) = run_measured(&["inspect".as_ref(), img.as_os_str()], &[("MKACI_MAX_ENTRIES", "10")]);
    assert!(!ok && err.contains("more than 10 entries") && err.contains("MKACI_MAX_ENTRIES=N"), "{err}");
    let (ok, err, _) = run_measured(&["inspect".as_ref(), img.as_os_str()], &[("MKACI_MAX_ENTRIES", "100")]);
    assert!(ok, "{err}");
}

/// A gzip file whose tar starts with `head` and goes on with `zeros` zero
/// bytes, compressed as it is written.
fn gzip_file(path: &Path, head: &[u8], zeros: u64) {
    let mut gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
    gz.write_all(head).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.finish().unwrap();
}

#[test]
fn memory_stays_bounded_for_the_worst_inputs() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut worst = ("", 0);
    let mut note = |case: &'static str, rss: i64| {
        if rss > worst.1 {
            worst = (case, rss);
        }
    };
    // A GNU long name of 1 GiB (all of it there, gzip makes it ~1 MB).
    let mut head = start();
    head.extend_from_slice(&header(b"././@LongLink", b'L', 1 << 30, b"", true));
    let p = dir.join("longname-1g.aci");
    gzip_file(&p, &head, 1 << 30);
    note(
        "GNU long name of 1 GiB",
        refused_within_limit("long name 1 GiB", &["inspect"], &p, &["long name", "1073741824 bytes"]),
    );
    // A PAX header of 512 MiB.
    let mut head = start();
    head.extend_from_slice(&header(b"././@PaxHeader", b'x', 512 << 20, b"", false));
    let p = dir.join("pax-512m.aci");
    gzip_file(&p, &head, 512 << 20);
    note(
        "PAX header of 512 MiB",
        refused_within_limit("pax 512 MiB", &["inspect"], &p, &["PAX header", "536870912 bytes"]),
    );
    // An xz stream whose block asks for a 2 GiB dictionary.
    let p = dir.join("xz-2g-dict.aci");
    std::fs::write(&p, xz_with_dict_2g(&end(start()))).unwrap();
    note(
        "xz dictionary of 2 GiB",
        refused_within_limit("xz 2 GiB dictionary", &["inspect"], &p, &["xz", "96 MiB", "recompress"]),
    );
    // A 10 GiB decompression bomb of zeros after a valid image streams.
    // (Time, not memory: kept to 1 GiB here.)
    let p = dir.join("bomb.aci");
    gzip_file(&p, &end(start()), 1 << 30);
    let (ok, _, rss) = run_measured(&["inspect".as_ref(), p.as_os_str()], &[]);
    eprintln!("peak RSS zeros after the end (1 GiB): {rss} KiB");
    assert!(ok && rss < RSS_LIMIT_KIB);
    note("1 GiB of zeros", rss);

    let (layout, config) = small_layout(dir);
    // An OCI config blob of 3 GiB, as its descriptor says.
    let big = dir.join("big-config.oci");
    copy_layout(&layout, &big);
    let cfg_path = big.join("blobs/sha256").join(&config.0);
    File::options().write(true).open(&cfg_path).unwrap().set_len(3 << 30).unwrap();
    rewrite_config_size(&big, 3 << 30);
    note(
        "OCI config of 3 GiB (descriptor)",
        refused_within_limit(
            "config 3 GiB by descriptor",
            &["verify"],
            &big,
            &["3221225472 bytes", "OCI image config"],
        ),
    );
    // ... and a 3 GiB file where the descriptor says a few bytes.
    let big2 = dir.join("big-config2.oci");
    copy_layout(&layout, &big2);
    File::options().write(true).open(big2.join("blobs/sha256").join(&config.0)).unwrap().set_len(3 << 30).unwrap();
    note(
        "OCI config of 3 GiB (file)",
        refused_within_limit("config 3 GiB by file", &["verify"], &big2, &["3221225472 bytes where the manifest says"]),
    );
    // index.json and the config linked to /dev/zero.
    let zero = dir.join("zero-index.oci");
    copy_layout(&layout, &zero);
    std::fs::remove_file(zero.join("index.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero.join("index.json")).unwrap();
    note(
        "index.json -> /dev/zero",
        refused_within_limit("index.json /dev/zero", &["verify"], &zero, &["character device", "not a regular file"]),
    );
    let zero2 = dir.join("zero-config.oci");
    copy_layout(&layout, &zero2);
    let c = zero2.join("blobs/sha256").join(&config.0);
    std::fs::remove_file(&c).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &c).unwrap();
    note("config -> /dev/zero", refused_within_limit("config /dev/zero", &["verify"], &zero2, &["character device"]));
    // A docker-archive member of 3 GiB (a sparse file: no disk used).
    let archive = dir.join("big-member.docker.tar");
    let mut f = File::create(&archive).unwrap();
    f.write_all(&header(format!("{}.json", "a".repeat(64)).as_bytes(), b'0', 3 << 30, b"", false)).unwrap();
    f.set_len(512 + (3 << 30) + 1024).unwrap();
    note(
        "docker-archive member of 3 GiB",
        refused_within_limit("docker member 3 GiB", &["verify"], &archive, &["3221225472 bytes", "at most"]),
    );
    // An image that is a FIFO, or a link to /dev/zero.
    let fifo = dir.join("fifo.aci");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    refused_within_limit("image FIFO", &["inspect"], &fifo, &["FIFO", "not a regular file"]);
    let zl = dir.join("zero.aci");
    std::os::unix::fs::symlink("/dev/zero", &zl).unwrap();
    refused_within_limit("image /dev/zero", &["inspect"], &zl, &["character device"]);
    eprintln!("worst input: {} at {} KiB ({} MiB) peak RSS", worst.0, worst.1, worst.1 >> 10);
}

/// An xz file of `data` whose LZMA2 block header asks for a 2 GiB
/// dictionary: encoded with preset 0, then the dictionary property byte set
/// to 38 (2^31 bytes) and the block header's CRC32 recomputed.
fn xz_with_dict_2g(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 0);
    e.write_all(data).unwrap();
    let mut x = e.finish().unwrap();
    let block = 12;
    let size = (x[block] as usize + 1) * 4;
    assert_eq!(x[block + 1] & 0x03, 0, "one filter");
    let mut i = block + 2;
    if x[block + 1] & 0x40 != 0 {
        i += varint_len(&x[i..]);
    }
    if x[block + 1] & 0x80 != 0 {
        i += varint_len(&x[i..]);
    }
    assert_eq!((x[i], x[i + 1]), (0x21, 1), "the LZMA2 filter");
    x[i + 2] = 38;
    let mut crc = flate2::Crc::new();
    crc.update(&x[block..block + size - 4]);
    x[block + size - 4..block + size].copy_from_slice(&crc.sum().to_le_bytes());
    x
}

fn varint_len(b: &[u8]) -> usize {
    b.iter().position(|&c| c & 0x80 == 0).unwrap() + 1
}

/// A one-layer OCI layout written by hand: (dir, (config hex, config bytes)).
fn small_layout(dir: &Path) -> (PathBuf, (String, Vec<u8>)) {
    let lay = dir.join("small.oci");
    let blobs = lay.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut layer = Vec::new();
    put(&mut layer, b"etc/", b'5', b"", b"");
    put(&mut layer, b"etc/hosts", b'0', b"127.0.0.1 localhost\n", b"");
    let layer = end(layer);
    let lhex = sha_hex(&layer);
    std::fs::write(blobs.join(&lhex), &layer).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{lhex}")]}
    }))
    .unwrap();
    let chex = sha_hex(&config);
    std::fs::write(blobs.join(&chex), &config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{chex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{lhex}"), "size": layer.len()}]
    }))
    .unwrap();
    let mhex = sha_hex(&manifest);
    std::fs::write(blobs.join(&mhex), &manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"),
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    });
    std::fs::write(lay.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(lay.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let out = Command::new(common::MKACI).arg("verify").arg(&lay).output().unwrap();
    assert!(out.status.success(), "the hand-made layout verifies: {}", common::stderr(&out));
    (lay, (chex, config))
}

fn copy_layout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blobs/sha256")).unwrap();
    for f in ["index.json", "oci-layout"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("blobs/sha256").join(e.file_name())).unwrap();
    }
}

/// Gives the layout's config descriptor `size`, re-addressing the manifest.
fn rewrite_config_size(lay: &Path, size: u64) {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(lay.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let blobs = lay.join("blobs/sha256");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(blobs.join(&mdigest)).unwrap()).unwrap();
    m["config"]["size"] = size.into();
    let bytes = serde_json::to_vec(&m).unwrap();
    let hex = sha_hex(&bytes);
    std::fs::write(blobs.join(&hex), &bytes).unwrap();
    let mut index = index;
    index["manifests"][0]["digest"] = format!("sha256:{hex}").into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(lay.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The docker-archive of the hand-made layout, members as given.
fn docker_archive(path: &Path, members: &[(&str, Vec<u8>)]) {
    let mut t = Vec::new();
    for (name, data) in members {
        put(&mut t, name.as_bytes(), b'0', data, b"");
    }
    std::fs::write(path, end(t)).unwrap();
}

#[test]
fn docker_archives_with_two_readings_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (lay, (chex, config)) = small_layout(t.path());
    let layer_hex = std::fs::read_dir(lay.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| {
            let b = std::fs::read(e.path()).unwrap();
            b.len() > 512 && &b[257..262] == b"ustar"
        })
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let layer = std::fs::read(lay.join("blobs/sha256").join(&layer_hex)).unwrap();
    let manifest = |config: &str| {
        serde_json::to_vec(
            &serde_json::json!([{"Config": config, "RepoTags": ["small:1.0"], "Layers": [format!("{layer_hex}.tar")]}]),
        )
        .unwrap()
    };
    let cname = format!("{chex}.json");
    let lname = format!("{layer_hex}.tar");
    let verify = |p: &Path| Command::new(common::MKACI).arg("verify").arg(p).output().unwrap();
    let good = t.path().join("good.docker.tar");
    docker_archive(&good, &[("manifest.json", manifest(&cname)), (&cname, config.clone()), (&lname, layer.clone())]);
    let out = verify(&good);
    assert!(out.status.success(), "{}", common::stderr(&out));

    // Two manifest.json: skopeo and podman load the first, mkaci read the last.
    let other_config = serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {"User": "evil"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]}
    }))
    .unwrap();
    let oname = format!("{}.json", sha_hex(&other_config));
    let two = t.path().join("two.docker.tar");
    docker_archive(
        &two,
        &[
            ("manifest.json", manifest(&oname)),
            (&oname, other_config.clone()),
            ("manifest.json", manifest(&cname)),
            (&cname, config.clone()),
            (&lname, layer.clone()),
        ],
    );
    let err = common::stderr(&verify(&two));
    assert!(err.contains("two") && (err.contains("\"manifest.json\"") || err.contains("configs")), "{err}");
    // Duplicate layer members.
    let dup = t.path().join("dup.docker.tar");
    docker_archive(
        &dup,
        &[
            ("manifest.json", manifest(&cname)),
            (&cname, config.clone()),
            (&lname, layer.clone()),
            (&lname, layer.clone()),
        ],
    );
    let err = common::stderr(&verify(&dup));
    assert!(err.contains("two members named") && err.contains(&lname), "{err}");
    // A member the manifest does not reach.
    let stray = t.path().join("stray.docker.tar");
    let mut stray_layer = Vec::new();
    put(&mut stray_layer, b"evil", b'0', b"x", b"");
    let stray_layer = end(stray_layer);
    let sname = format!("{}.tar", sha_hex(&stray_layer));
    docker_archive(
        &stray,
        &[
            ("manifest.json", manifest(&cname)),
            (&cname, config.clone()),
            (&lname, layer.clone()),
            (&sname, stray_layer),
        ],
    );
    let err = common::stderr(&verify(&stray));
    assert!(err.contains("does not name") && err.contains(&sname), "{err}");
    // A NUL in a member's long name.
    let nul = t.path().join("nul.docker.tar");
    let mut b = Vec::new();
    long(&mut b, b'L', format!("manifest.json\0{cname}").as_bytes());
    put(&mut b, b"x", b'0', &manifest(&cname), b"");
    std::fs::write(&nul, end(b)).unwrap();
    let err = common::stderr(&verify(&nul));
    assert!(err.contains("NUL"), "{err}");
}

/// Makes the hand-made layout at `lay` an image index layout whose index
/// blob lists `entries` (built from the layout's one manifest descriptor);
/// returns the index blob's hex.
fn as_index(lay: &Path, entries: impl Fn(&serde_json::Value) -> Vec<serde_json::Value>) -> String {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(lay.join("index.json")).unwrap()).unwrap();
    let mut m = index["manifests"][0].clone();
    m.as_object_mut().unwrap().remove("annotations");
    let blob = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries(&m)
    }))
    .unwrap();
    let hex = sha_hex(&blob);
    std::fs::write(lay.join("blobs/sha256").join(&hex), &blob).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"),
                       "size": blob.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    });
    std::fs::write(lay.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    hex
}

#[test]
fn image_index_layouts_that_lie_or_nest_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (small, _) = small_layout(t.path());
    let with = |p: &serde_json::Value, platform: serde_json::Value| {
        let mut p = p.clone();
        p["platform"] = platform;
        p
    };
    let amd64 = serde_json::json!({"architecture": "amd64", "os": "linux"});
    let case = |name: &str, entries: &dyn Fn(&serde_json::Value) -> Vec<serde_json::Value>| -> (bool, String) {
        let lay = t.path().join(name).join("x.oci");
        copy_layout(&small, &lay);
        as_index(&lay, entries);
        let out = Command::new(common::MKACI).arg("verify").arg(&lay).output().unwrap();
        (out.status.success(), common::stderr(&out))
    };
    // The good one: one image, its platform the config's.
    let (ok, err) = case("good", &|m| vec![with(m, amd64.clone())]);
    assert!(ok, "a good index layout verifies: {err}");
    // Each refused, saying why.
    type Entries<'a> = Box<dyn Fn(&serde_json::Value) -> Vec<serde_json::Value> + 'a>;
    let refusals: Vec<(&str, Entries<'_>, &str)> = vec![
        (
            "lying",
            Box::new(|m| vec![with(m, serde_json::json!({"architecture": "arm64", "os": "linux"}))]),
            "is for linux/amd64, but the image index lists its manifest",
        ),
        ("no-platform", Box::new(|m| vec![m.clone()]), "has no platform"),
        ("twice", Box::new(|m| vec![with(m, amd64.clone()), with(m, amd64.clone())]), "are both for linux/amd64"),
        ("empty", Box::new(|_| vec![]), "it lists 0 images"),
        ("too-many", Box::new(|m| (0..65).map(|_| with(m, amd64.clone())).collect()), "it lists 65 images"),
        (
            "nested",
            Box::new(|m| {
                let mut n = with(m, amd64.clone());
                n["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
                vec![n]
            }),
            "mkaci lists image manifests",
        ),
        (
            "huge",
            Box::new(|m| {
                let mut n = with(m, amd64.clone());
                n["size"] = (1u64 << 40).into();
                vec![n]
            }),
            "mkaci reads JSON blobs of at most",
        ),
    ];
    for (name, entries, needle) in refusals {
        let (ok, err) = case(name, &*entries);
        assert!(!ok, "{name}: an index layout that should be refused verifies");
        assert!(err.contains(needle), "{name}: the refusal lacks {needle:?}: {err}");
    }
}

// OCI layers: one reading for everyone, across layers.

fn gzip_bytes(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// An OCI layout at `dir/name` of these layer tars (gzip-compressed when
/// `gzip`), written by hand with every digest right; and its docker-archive
/// beside it, `dir/name.docker.tar`, with the layer members in reverse
/// order (the manifest's order is what counts).
fn layout_of(dir: &Path, name: &str, layers: &[Vec<u8>], gzip: bool) -> (PathBuf, PathBuf) {
    let lay = dir.join(format!("{name}.oci"));
    let blobs = lay.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let (mut descs, mut diff_ids, mut members) = (Vec::new(), Vec::new(), Vec::new());
    for tar in layers {
        let blob = if gzip { gzip_bytes(tar) } else { tar.clone() };
        let hex = sha_hex(&blob);
        std::fs::write(blobs.join(&hex), &blob).unwrap();
        let media =
            if gzip { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" };
        descs.push(serde_json::json!({"mediaType": media, "digest": format!("sha256:{hex}"), "size": blob.len()}));
        diff_ids.push(format!("sha256:{}", sha_hex(tar)));
        members.push((format!("{hex}{}", if gzip { ".tar.gz" } else { ".tar" }), blob));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let chex = sha_hex(&config);
    std::fs::write(blobs.join(&chex), &config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{chex}"), "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    let mhex = sha_hex(&manifest);
    std::fs::write(blobs.join(&mhex), &manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"),
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    });
    std::fs::write(lay.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(lay.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let archive = dir.join(format!("{name}.docker.tar"));
    let dm = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{chex}.json"), "RepoTags": [format!("{name}:1.0")],
        "Layers": members.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
    }]))
    .unwrap();
    let mut all: Vec<(&str, Vec<u8>)> = vec![("manifest.json", dm), (&format!("{chex}.json"), config.clone())]
        .into_iter()
        .map(|(n, b)| (Box::leak(n.to_string().into_boxed_str()) as &str, b))
        .collect();
    for (n, b) in members.iter().rev() {
        all.push((n.as_str(), b.clone()));
    }
    docker_archive(&archive, &all);
    (lay, archive)
}

/// A layer tar of these entries: (name, type, link target).
fn layer(entries: &[(&str, u8, &str)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, ty, link) in entries {
        let data: &[u8] = if *ty == b'0' { b"data\n" } else { b"" };
        put(&mut t, name.as_bytes(), *ty, data, link.as_bytes());
    }
    end(t)
}

fn verify_out(p: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(common::MKACI);
    c.arg("verify").arg(p);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The layout and its docker-archive, gzip and plain, are refused with
/// `needles` in the error (or accepted, when `needles` is empty).
fn layers_read(t: &Path, case: &str, layers: &[Vec<u8>], needles: &[&str]) {
    for gzip in [false, true] {
        let (lay, archive) = layout_of(t, &format!("{case}-{gzip}"), layers, gzip);
        for p in [&lay, &archive] {
            // The archive is checked alone (the layout beside it has its own check).
            let alone = t.join(format!("alone-{}", p.file_name().unwrap().to_string_lossy()));
            let p = if p == &archive {
                std::fs::rename(p, &alone).unwrap();
                &alone
            } else {
                p
            };
            let o = verify_out(p, &[]);
            let err = common::stderr(&o);
            assert!(!err.contains("panicked"), "{case}: {err}");
            if needles.is_empty() {
                assert!(o.status.success(), "{case} {}: {err}", p.display());
            } else {
                assert!(!o.status.success(), "{case} {}: accepted", p.display());
                for n in needles {
                    assert!(err.contains(n), "{case} {}: {n:?} not in {err}", p.display());
                }
            }
        }
    }
}

#[test]
fn oci_layers_two_readers_could_read_differently_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let base =
        layer(&[("etc/", b'5', ""), ("etc/hosts", b'0', ""), ("x", b'2', "/etc"), ("d/", b'5', ""), ("d/f", b'0', "")]);
    // What is fine: whiteouts of lower paths, an opaque directory, a
    // symlink replaced by a directory, a link below a whited-out symlink.
    layers_read(
        t,
        "fine",
        &[base.clone(), layer(&[(".wh.x", b'0', ""), ("d/.wh..wh..opq", b'0', ""), ("d/g", b'0', "")])],
        &[],
    );
    layers_read(t, "replaced", &[base.clone(), layer(&[("x/", b'5', ""), ("x/passwd", b'0', "")])], &[]);
    layers_read(t, "hidden", &[base.clone(), layer(&[(".wh.x", b'0', "")]), layer(&[("x/passwd", b'0', "")])], &[]);
    layers_read(t, "hardlink-below", &[base.clone(), layer(&[("h", b'1', "etc/hosts")])], &[]);
    // Below a symlink: in one layer, and across layers (containerd resolves
    // it inside the rootfs, a plain extractor writes /etc/passwd).
    layers_read(
        t,
        "below-symlink",
        &[layer(&[("x", b'2', "/etc"), ("x/passwd", b'0', "")])],
        &["lies below \"x\"", "symlink"],
    );
    layers_read(t, "below-implied", &[layer(&[("x", b'2', "/etc"), ("x/a/b", b'0', "")])], &["lies below \"x\""]);
    layers_read(t, "across", &[base.clone(), layer(&[("x/passwd", b'0', "")])], &["which layer 1 made a symlink"]);
    layers_read(
        t,
        "below-file",
        &[base.clone(), layer(&[("etc/hosts/x", b'0', "")])],
        &["layer 1 made a regular file"],
    );
    // Names that normalise alike, absolute names, "..".
    layers_read(t, "alike", &[layer(&[("a", b'0', ""), ("./a", b'0', "")])], &["already holds"]);
    layers_read(t, "alike-dir", &[layer(&[("d/a", b'0', ""), ("d", b'0', "")])], &["already holds"]);
    layers_read(t, "absolute", &[layer(&[("/etc/passwd", b'0', "")])], &["absolute"]);
    layers_read(t, "dotdot", &[layer(&[("a/../../etc/passwd", b'0', "")])], &["\"..\""]);
    // Whiteouts read differently: with their target in the same layer, an
    // AUFS meta file, a whiteout that is a directory, an entry below a path
    // its layer whites out.
    layers_read(
        t,
        "wh-same",
        &[base.clone(), layer(&[("etc/hosts", b'0', ""), ("etc/.wh.hosts", b'0', "")])],
        &["which this layer also holds"],
    );
    layers_read(
        t,
        "wh-after",
        &[base.clone(), layer(&[("d/new", b'0', ""), (".wh.d", b'0', "")])],
        &["which this layer also holds"],
    );
    layers_read(
        t,
        "wh-before",
        &[base.clone(), layer(&[(".wh.d", b'0', ""), ("d/new", b'0', "")])],
        &["which this layer whites out"],
    );
    layers_read(t, "aufs", &[layer(&[(".wh..wh.plnk", b'0', "")])], &["AUFS"]);
    layers_read(t, "wh-dir", &[base.clone(), layer(&[(".wh.d", b'5', "")])], &["a whiteout is an empty regular file"]);
    // Hard links to nothing, or to a directory; a PAX global header.
    layers_read(t, "hardlink-none", &[layer(&[("h", b'1', "nope")])], &["no earlier file"]);
    layers_read(t, "hardlink-dir", &[base.clone(), layer(&[("h", b'1', "etc")])], &["is a directory"]);
    layers_read(t, "global-pax", &[layer(&[("g", b'g', "")])], &["tar type 'g'"]);
    // The strict tar reader reads every layer: a NUL in a long name.
    let mut nul = Vec::new();
    long(&mut nul, b'L', b"bin/sh\0evil");
    put(&mut nul, b"x", b'0', b"#!", b"");
    layers_read(t, "nul", &[end(nul)], &["NUL"]);
}

/// A decompression bomb stops at the unpacked-size limit, named with the
/// way to raise it: an ACI, an OCI layout (the limit spans its layers) and a
/// docker-archive; a lowered MKACI_MAX_UNPACKED keeps the test fast.
#[test]
fn decompression_bombs_stop_at_the_unpacked_limit() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let mut head = Vec::new();
    put(&mut head, b"manifest", b'0', MANIFEST, b"");
    put(&mut head, b"rootfs/", b'5', b"", b"");
    let zeros = 64u64 << 20;
    head.extend_from_slice(&header(b"rootfs/zeros", b'0', zeros, b"", false));
    let aci = t.join("bomb.aci");
    gzip_file(&aci, &head, zeros + 1024);
    assert!(std::fs::metadata(&aci).unwrap().len() < 1 << 20, "a small file");
    let limit = [("MKACI_MAX_UNPACKED", "1048576")];
    // inspect (verify reads an ACI with the same reader, once it has a signature).
    let o = Command::new(common::MKACI).arg("inspect").arg(&aci).envs(limit).output().unwrap();
    let err = common::stderr(&o);
    assert!(!o.status.success(), "accepted");
    assert!(err.contains("more than 1048576 bytes") && err.contains("MKACI_MAX_UNPACKED=BYTES"), "{err}");
    // Under the default limit the same file reads (64 MiB of zeros).
    let o = Command::new(common::MKACI).arg("inspect").arg(&aci).output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    // OCI: two layers of 768 KiB each pass one at a time, not together.
    let big = |name: &[u8]| {
        let mut l = Vec::new();
        put(&mut l, name, b'0', &vec![0u8; 768 << 10], b"");
        end(l)
    };
    let (lay, archive) = layout_of(t, "bomb", &[big(b"a"), big(b"b")], true);
    for p in [&lay, &archive] {
        let o = verify_out(p, &limit);
        let err = common::stderr(&o);
        assert!(!o.status.success(), "{}: accepted", p.display());
        assert!(err.contains("layer 2") && err.contains("MKACI_MAX_UNPACKED=BYTES"), "{}: {err}", p.display());
        assert!(verify_out(p, &[("MKACI_MAX_UNPACKED", "2000000")]).status.success());
    }
}
