//! The ACI archive: a deterministic tar of `manifest` and `rootfs/`, hashed while
//! written, compressed with gzip (parallel, multi-member), xz or nothing.
//! (Owned by the archive work; stub.)

/// How the tar stream is compressed. appc allows gzip, bzip2, xz or none; we write
/// gzip, xz or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip { level: u32 },
    Xz { level: u32 },
    None,
}

/// Default gzip level (libdeflate levels 1..=12). Chosen from `scripts/bench`.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// Default xz preset (0..=9).
pub const DEFAULT_XZ_LEVEL: u32 = 6;
