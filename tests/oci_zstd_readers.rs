//! `mkaci verify` reads zstd layers (`tar+zstd` in a layout, `<hex>.tar.zst`
//! in a docker-archive), and refuses, before allocating it, a frame that asks
//! for a larger window than [`ZSTD_WINDOW_LOG_MAX`] allows.

use std::path::Path;

use mkaci::check::oci::{verify_docker_archive, verify_layout, OciVerifyError, ZSTD_WINDOW_LOG_MAX};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn put(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A layer tar of a few hundred KiB, so the stream has several frames.
fn layer_tar() -> Vec<u8> {
    let mut tar = Vec::new();
    for i in 0..40 {
        let body: Vec<u8> = (0..10_000u32).flat_map(|n| (n * 7 + i).to_le_bytes()).collect();
        put(&mut tar, &format!("f{i}"), &body);
    }
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// A layout and its docker-archive holding the one layer `blob`, whose tar is
/// `tar`.
fn write_image(dir: &Path, tar: &[u8], blob: &[u8]) -> (std::path::PathBuf, std::path::PathBuf) {
    let (thex, bhex) = (sha_hex(tar), sha_hex(blob));
    let config = serde_json::to_vec(&json!({
        "created": "1970-01-01T00:00:01Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{thex}")]}
    }))
    .unwrap();
    let chex = sha_hex(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{chex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": format!("sha256:{bhex}"), "size": blob.len()}]
    }))
    .unwrap();
    let mhex = sha_hex(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"),
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]
    }))
    .unwrap();
    let layout = dir.join("z.oci");
    let _ = std::fs::remove_dir_all(&layout);
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("index.json"), index).unwrap();
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for (hex, bytes) in [(&bhex, blob), (&chex, &config), (&mhex, &manifest)] {
        std::fs::write(layout.join("blobs/sha256").join(hex), bytes).unwrap();
    }
    let archive_manifest = serde_json::to_vec(
        &json!([{"Config": format!("{chex}.json"), "RepoTags": ["z:1.0"], "Layers": [format!("{bhex}.tar.zst")]}]),
    )
    .unwrap();
    let mut archive = Vec::new();
    put(&mut archive, "manifest.json", &archive_manifest);
    put(&mut archive, &format!("{chex}.json"), &config);
    put(&mut archive, &format!("{bhex}.tar.zst"), blob);
    archive.extend_from_slice(&[0; 1024]);
    // Not beside the layout (z.docker.tar would be compared with z.oci).
    let archive_path = dir.join("other.docker.tar");
    std::fs::write(&archive_path, archive).unwrap();
    (layout, archive_path)
}

/// Independent frames, as mkaci writes them.
fn frames(tar: &[u8], chunk: usize) -> Vec<u8> {
    tar.chunks(chunk).flat_map(|c| zstd::bulk::compress(c, 3).unwrap()).collect()
}

#[test]
fn zstd_layers_verify_in_layouts_and_docker_archives() {
    let dir = tempfile::tempdir().unwrap();
    let tar = layer_tar();
    let blob = frames(&tar, 100_000);
    let (layout, archive) = write_image(dir.path(), &tar, &blob);
    let c = verify_layout(&layout).unwrap();
    assert_eq!((c.layers, c.layer_bytes, c.tar_bytes), (1, blob.len() as u64, tar.len() as u64));
    let a = verify_docker_archive(&archive).unwrap();
    assert_eq!((a.layers, a.tar_bytes, a.config_digest), (1, tar.len() as u64, c.config_digest));
}

/// A frame whose header asks for a window of 2^`log` bytes, with one empty
/// raw block: a few bytes that a reader with no limit would answer by
/// allocating the window.
fn window_frame(log: u32) -> Vec<u8> {
    // Magic; frame header descriptor 0 (no content size, not single-segment,
    // no checksum, no dictionary); window descriptor: exponent log - 10,
    // mantissa 0; a last raw block of size 0 (RFC 8878, 3.1.1).
    vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, ((log - 10) as u8) << 3, 0x01, 0x00, 0x00]
}

#[test]
fn zstd_frames_asking_for_a_huge_window_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tar = layer_tar();
    // The frame is well-formed: libzstd parses it whole (without decoding it).
    let frame = window_frame(30);
    assert_eq!(zstd::zstd_safe::find_frame_compressed_size(&frame), Ok(frame.len()));
    // Prefixed to a good layer, 1 GiB (above libzstd's own default limit,
    // 128 MiB) and 16 MiB (below it) must stop the reader.
    for log in [30, ZSTD_WINDOW_LOG_MAX + 1] {
        let mut blob = window_frame(log);
        blob.extend(frames(&tar, 100_000));
        let (layout, archive) = write_image(dir.path(), &tar, &blob);
        match verify_layout(&layout) {
            Err(e @ OciVerifyError::BadLayer { .. }) => {
                let msg = e.to_string();
                let limit = format!("at most a {} MiB window", 1 << (ZSTD_WINDOW_LOG_MAX - 20));
                assert!(msg.contains("tar+zstd") && msg.contains(&limit), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        match verify_docker_archive(&archive) {
            // The archive's layer members are read in the manifest's order,
            // as layers: the refusal names the member.
            Err(e @ (OciVerifyError::BadArchive { .. } | OciVerifyError::BadLayer { .. })) => {
                assert!(e.to_string().contains("window"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
    // A window at the limit is read.
    let mut at_limit = window_frame(ZSTD_WINDOW_LOG_MAX);
    at_limit.extend(frames(&tar, 100_000));
    let (layout, _) = write_image(dir.path(), &tar, &at_limit);
    verify_layout(&layout).unwrap();
}

#[test]
fn damaged_zstd_layers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tar = layer_tar();
    let blob = frames(&tar, 100_000);
    // Not zstd at all, and a stream cut short.
    for bad in [b"not zstd at all".to_vec(), blob[..blob.len() - 10].to_vec()] {
        let (layout, _) = write_image(dir.path(), &tar, &bad);
        assert!(matches!(verify_layout(&layout), Err(OciVerifyError::BadLayer { .. })));
    }
    // Frames that decode, but to another tar.
    let mut other = tar.clone();
    other[600] ^= 1;
    let (layout, _) = write_image(dir.path(), &tar, &frames(&other, 100_000));
    assert!(matches!(verify_layout(&layout), Err(OciVerifyError::DiffIdMismatch { .. })));
}
