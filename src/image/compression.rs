//! The compression an image asks for: gzip, xz, zstd or none, with levels
//! valid by construction. The mkACI arguments resolve to one ([`crate::image::spec`]);
//! the archive writer implements it (`crate::archive`), so the choice lives
//! here, below both.

/// How the tar stream is compressed. appc allows gzip, bzip2, xz or none; OCI
/// layers gzip, zstd or none. We write gzip, xz (ACIs only), zstd (OCI layers
/// only) or none. The levels are valid by construction, so the writer never
/// checks them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip { level: GzipLevel },
    Xz { level: XzLevel },
    Zstd { level: ZstdLevel },
    None,
}

impl Compression {
    /// Gzip at `level` (libdeflate, 1..=12).
    pub fn gzip(level: u32) -> Result<Compression, LevelError> {
        GzipLevel::new(level).map(|level| Compression::Gzip { level })
    }

    /// Xz at preset `level` (0..=9).
    pub fn xz(level: u32) -> Result<Compression, LevelError> {
        XzLevel::new(level).map(|level| Compression::Xz { level })
    }

    /// Zstd at `level` (1..=22).
    pub fn zstd(level: u32) -> Result<Compression, LevelError> {
        ZstdLevel::new(level).map(|level| Compression::Zstd { level })
    }

    /// The name the `compression` argument gives it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip { .. } => "gzip",
            Compression::Xz { .. } => "xz",
            Compression::Zstd { .. } => "zstd",
            Compression::None => "none",
        }
    }
}

/// A libdeflate gzip level. libdeflate also has level 0 (stored blocks), which
/// is no compression; use [`Compression::None`] for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipLevel(u32);

impl GzipLevel {
    /// [`DEFAULT_GZIP_LEVEL`].
    pub const DEFAULT: GzipLevel = GzipLevel(DEFAULT_GZIP_LEVEL);

    /// The levels allowed.
    pub const RANGE: std::ops::RangeInclusive<u32> = 1..=12;

    pub fn new(level: u32) -> Result<GzipLevel, LevelError> {
        if Self::RANGE.contains(&level) {
            Ok(GzipLevel(level))
        } else {
            Err(LevelError::Gzip { level })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// An xz (liblzma) preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XzLevel(u32);

impl XzLevel {
    /// The presets allowed.
    pub const RANGE: std::ops::RangeInclusive<u32> = 0..=9;

    pub fn new(level: u32) -> Result<XzLevel, LevelError> {
        if Self::RANGE.contains(&level) {
            Ok(XzLevel(level))
        } else {
            Err(LevelError::Xz { level })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A zstd (libzstd) level. libzstd also has level 0 (its default, 3) and
/// negative "fast" levels; neither is offered, so one level has one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstdLevel(u32);

impl ZstdLevel {
    /// The levels allowed: libzstd's 1 to its maximum, 22.
    pub const RANGE: std::ops::RangeInclusive<u32> = 1..=22;

    pub fn new(level: u32) -> Result<ZstdLevel, LevelError> {
        if Self::RANGE.contains(&level) {
            Ok(ZstdLevel(level))
        } else {
            Err(LevelError::Zstd { level })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A compression level out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    #[error("gzip level {level} is not allowed; use 1..=12 (libdeflate levels)")]
    Gzip { level: u32 },
    #[error("xz level {level} is not allowed; use 0..=9")]
    Xz { level: u32 },
    #[error("zstd level {level} is not allowed; use 1..=22")]
    Zstd { level: u32 },
}

/// Default gzip level (libdeflate levels 1..=12). Measured on the 1.38 GB Rust
/// toolchain tar (1 MiB members): level 6 gives 286.1 MB, 1.006x `tar | pigz -6`
/// (284.5 MB); level 5 gives 289.5 MB (1.018x) and level 4 295.1 MB (1.037x),
/// both more than 1% bigger than pigz, for 12% and 22% less CPU.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// Default xz preset (0..=9).
pub const DEFAULT_XZ_LEVEL: u32 = 6;
/// Default zstd level (1..=22). Measured on the mkOCI image of the 1.34 GB
/// toolchain tar (2 MiB frames, 2 threads; docs/bench.md, "zstd against
/// gzip"): level 3 gives 0.914x gzip level 6's bytes for 0.53x its CPU time,
/// and decompresses 3.3x faster (`zstd -dc` against `gzip -dc`). Level 1 is
/// 2% bigger than gzip; level 6 is 0.852x for 1.21x gzip's CPU, level 9
/// 0.834x for 1.9x. Level 3 is also libzstd's own default, and its window
/// (2 MiB) is one chunk, so cutting the tar into frames costs it least.
pub const DEFAULT_ZSTD_LEVEL: u32 = 3;
