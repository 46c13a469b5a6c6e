//! Archives: a deterministic tar of a [`Plan`], hashed while written,
//! compressed with gzip (parallel, multi-member), zstd (parallel,
//! multi-frame), xz (multi-threaded, independent blocks) or nothing, and
//! written to a file atomically.
//!
//! Two stages, each unaware of the other's job:
//! - [`framing`] decides what the tar holds: an App Container Image
//!   ([`Framing::Aci`]: `manifest`, `rootfs/`, the plan under `rootfs/`; see
//!   <https://github.com/appc/spec/blob/master/spec/aci.md>) or an OCI image
//!   layer ([`Framing::Layer`]: the plan at the top level; see
//!   <https://github.com/opencontainers/image-spec/blob/main/layer.md>). It
//!   writes into any sink.
//! - [`output`] takes the tar bytes, computes the digests asked for up front
//!   ([`DigestSet`]), compresses and writes them out, and returns what it
//!   wrote ([`Written`]). Digests are computed on the bytes as they pass,
//!   never by reading the output back.
//!
//! [`write_aci`] and [`write_layer`] are the two artifacts; [`write_archive`]
//! is the general form. Output goes to a temporary file beside `dest`, renamed
//! on success and removed on any error.
//!
//! Speed: the tar stream is cut into fixed [`CHUNK_SIZE`] chunks; for gzip each
//! chunk becomes an independent gzip member compressed by libdeflate on a
//! worker pool (for zstd an independent zstd frame, by libzstd), and the
//! members are written in order. Chunk size and level
//! never depend on the thread count, so the bytes are the same for any thread
//! count. A reader thread does the framing (walking the plan, reading files,
//! NAR hashes of verified store paths); a writer thread writes the output in
//! order; the calling thread only hashes the tar and hands the chunks on, so
//! SHA-512 is the one serial step.
//!
//! [`Plan`]: crate::image::plan::Plan

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel};

use crate::image::image_id::ImageId;
use crate::image::plan::Plan;
use crate::nix::nar::NarHash;

pub mod digest;
pub mod framing;
pub mod output;
pub mod untrusted;

pub use framing::Framing;
pub use output::{DigestSet, Sha256Digest, Written};

pub use crate::image::compression::{
    Compression, GzipLevel, LevelError, XzLevel, ZstdLevel, DEFAULT_GZIP_LEVEL, DEFAULT_XZ_LEVEL, DEFAULT_ZSTD_LEVEL,
};

/// Size of the uncompressed tar chunks that become independent gzip members.
/// A constant: deriving it from the core count would make images differ between
/// machines. Each member restarts the deflate window (32 KiB). On the 245 MB
/// tar of ~42k small files (the Rust core docs) against `tar | pigz -6`:
/// 1 MiB members give 1.030x, 2 MiB 1.012x, 4 MiB 1.004x; peak RSS grows with
/// the chunk (about 32, 36-46 and 70 MiB there), so 2 MiB, with fewer chunks
/// in flight, keeps the bytes buffered what they were with 1 MiB.
pub const CHUNK_SIZE: usize = 1 << 21;

/// Options of [`write_aci`], [`write_layer`] and [`write_archive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveOptions {
    pub compression: Compression,
    /// Compression threads; 0 means `std::thread::available_parallelism`. The
    /// output bytes do not depend on it.
    pub threads: usize,
    /// The ELF machine of the image's platform: regular files that are ELF
    /// programs or libraries for another machine are counted while they are
    /// read ([`ForeignElf`]). `None`: not counted.
    pub machine: Option<u16>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions { compression: Compression::Gzip { level: GzipLevel::DEFAULT }, threads: 0, machine: None }
    }
}

/// ELF files for another machine than [`ArchiveOptions::machine`] that an
/// archive holds: how many, and the first one (its name in the archive and
/// its machine), for one warning line. Toolchains carry them legitimately
/// (cross compilers' libraries, firmware), so they are not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignElf {
    pub count: u64,
    pub example: Option<(String, u16)>,
}

impl ForeignElf {
    /// Counts the file `name` whose first bytes are `head`, when it is an
    /// ELF file for another machine than `machine`.
    pub fn see(&mut self, machine: u16, name: &[u8], head: &[u8]) {
        match crate::image::elf::machine_of(head) {
            Some(m) if m != machine => {
                self.count += 1;
                if self.example.is_none() {
                    self.example = Some((String::from_utf8_lossy(name).into_owned(), m));
                }
            }
            _ => {}
        }
    }

    /// Adds another archive's count.
    pub fn add(&mut self, other: &ForeignElf) {
        self.count += other.count;
        if self.example.is_none() {
            self.example.clone_from(&other.example);
        }
    }
}

/// What [`write_aci`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub image_id: ImageId,
    /// Bytes of the uncompressed tar (what the image ID hashes).
    pub tar_size: u64,
    /// Bytes of the file written.
    pub compressed_size: u64,
    /// Tar entries, not counting PAX extension headers.
    pub entries: u64,
    /// ELF files for another machine than the image's.
    pub foreign_elf: ForeignElf,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} changed size while the image was written: {planned} bytes when planned, {actual} now; do not modify the inputs during the build", path.display())]
    SizeChanged { path: PathBuf, planned: u64, actual: u64 },
    #[error("{} is a {kind}; an image (like a NAR) can only hold directories, regular files and symlinks", path.display())]
    UnsupportedFileType { path: PathBuf, kind: &'static str },
    #[error("cannot create the output file {}: {source}", path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot write the output file {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot rename {} to {}: {source}", from.display(), to.display())]
    Rename { from: PathBuf, to: PathBuf, source: std::io::Error },
    #[error("xz encoder setup failed (level {level}, {threads} threads): {source}")]
    XzInit { level: u32, threads: u32, source: xz2::stream::Error },
    #[error("an OCI layer cannot be compressed with {compression:?}; use gzip, zstd or none")]
    UnsupportedLayerCompression { compression: Compression },
    #[error(
        "compression: an ACI cannot be compressed with {}: appc allows gzip, bzip2, xz or none, and \
         actool and rkt refuse anything else; use compression = \"gzip\" (the default), \"xz\" or \"none\"",
        compression.name()
    )]
    UnsupportedAciCompression { compression: Compression },
    #[error("a compression worker thread stopped unexpectedly")]
    WorkerFailed,
    #[error("store path {} does not match the NAR hash Nix recorded for it: expected {expected}, found {actual}; the store is corrupted there (check with `nix-store --verify-path`, fix with `nix-store --repair-path`)", path.display())]
    NarHashMismatch { path: PathBuf, expected: NarHash, actual: NarHash },
    #[error("internal error: the {digest} was asked for but not computed")]
    DigestMissing { digest: &'static str },
}

/// What [`write_layer`] wrote: the layer's two digests, as an OCI image
/// config and manifest name them, and its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// SHA-256 of the uncompressed tar: the layer's `diff_id` in the image
    /// config.
    pub diff_id: Sha256Digest,
    /// SHA-256 of the file written: the layer blob's digest in the manifest.
    /// Equal to `diff_id` when uncompressed.
    pub digest: Sha256Digest,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
    /// Bytes of the file written.
    pub compressed_size: u64,
    /// Tar entries, not counting PAX extension headers.
    pub entries: u64,
    /// ELF files for another machine than the image's.
    pub foreign_elf: ForeignElf,
}

/// What [`write_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Sizes and the digests that were asked for.
    pub written: Written,
    /// Tar entries, not counting PAX extension headers.
    pub entries: u64,
    /// ELF files for another machine than the image's.
    pub foreign_elf: ForeignElf,
}

/// Writes the image to `dest` (through a temporary file beside it) and returns its
/// ID and sizes.
pub fn write_aci(
    manifest_json: &[u8],
    plan: &Plan,
    dest: &Path,
    opts: &ArchiveOptions,
) -> Result<ArchiveSummary, ArchiveError> {
    if let Compression::Zstd { .. } = opts.compression {
        return Err(ArchiveError::UnsupportedAciCompression { compression: opts.compression });
    }
    let a = write_archive(Framing::Aci { manifest: manifest_json }, plan, dest, opts, DigestSet::ACI)?;
    let Written { tar_size, compressed_size, sha512_tar, .. } = a.written;
    let digest = sha512_tar.ok_or(ArchiveError::DigestMissing { digest: "SHA-512 of the tar" })?;
    Ok(ArchiveSummary {
        image_id: ImageId::from_digest(digest),
        tar_size,
        compressed_size,
        entries: a.entries,
        foreign_elf: a.foreign_elf,
    })
}

/// Writes an OCI image layer (the plan at the top level of the tar) to `dest`
/// (through a temporary file beside it) and returns its digests and sizes.
/// Gzip gives a `tar+gzip` layer, zstd a `tar+zstd` one, [`Compression::None`]
/// a plain `tar` one; xz is refused (OCI has no xz layers).
pub fn write_layer(plan: &Plan, dest: &Path, opts: &ArchiveOptions) -> Result<LayerSummary, ArchiveError> {
    if let Compression::Xz { .. } = opts.compression {
        return Err(ArchiveError::UnsupportedLayerCompression { compression: opts.compression });
    }
    let a = write_archive(Framing::Layer, plan, dest, opts, DigestSet::LAYER)?;
    let Written { tar_size, compressed_size, sha256_tar, sha256_compressed, .. } = a.written;
    Ok(LayerSummary {
        diff_id: sha256_tar.ok_or(ArchiveError::DigestMissing { digest: "SHA-256 of the tar" })?,
        digest: sha256_compressed.ok_or(ArchiveError::DigestMissing { digest: "SHA-256 of the file" })?,
        tar_size,
        compressed_size,
        entries: a.entries,
        foreign_elf: a.foreign_elf,
    })
}

/// Writes `plan` with `framing` to `dest` (through a temporary file beside it),
/// computing the `digests` asked for while writing.
pub fn write_archive(
    framing: Framing<'_>,
    plan: &Plan,
    dest: &Path,
    opts: &ArchiveOptions,
    digests: DigestSet,
) -> Result<Archived, ArchiveError> {
    debug_assert!(plan.is_ordered(), "plan entries must be in archive order");
    let threads = compression_threads(opts.threads);
    let tmp = TempFile::create(dest)?;
    let file = tmp.file.try_clone().map_err(|source| ArchiveError::Create { path: tmp.path.clone(), source })?;
    let mut out = output::Output::new(file, &tmp.path, opts.compression, threads, digests)?;
    // A pipeline: this thread only hashes the tar stream (the part that
    // cannot be split) and hands the chunks on to the compressors or the
    // output's writer thread; a reader thread does the rest of the work
    // before it (walking the plan, reading files, tar framing, NAR hashes for
    // verification).
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(READ_AHEAD_CHUNKS);
    let (spare_tx, spare_rx) = channel::<Vec<u8>>();
    let serial_cpu_start = thread_cpu_ns();
    let (entries, out_result) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut sink = output::Chunker::new(full_tx, spare_rx);
            let result = framing::write_tar(&mut sink, framing, plan, opts.machine).and_then(|entries| {
                sink.finish()?;
                Ok::<(u64, ForeignElf), ArchiveError>(entries)
            });
            // A fresh thread: its CPU time so far is all this archive's reading.
            if let Some(ns) = thread_cpu_ns() {
                STAGE_READER_CPU_NS.fetch_add(ns, Ordering::Relaxed);
            }
            result
        });
        let mut out_result = Ok(());
        while let Ok((buf, len)) = full_rx.recv() {
            match out.chunk(buf, len) {
                Ok(spare) => {
                    PROGRESS_TAR_BYTES.fetch_add(len as u64, Ordering::Relaxed);
                    if let Some(b) = spare {
                        // The reader may have finished; the buffer is then dropped.
                        let _ = spare_tx.send(b);
                    }
                }
                Err(e) => {
                    out_result = Err(e);
                    break;
                }
            }
        }
        // Unblocks a reader still sending after an output failure.
        drop(full_rx);
        (reader.join().map_err(|_| ArchiveError::WorkerFailed), out_result)
    });
    // The output's own failure explains a reader stopped by it.
    out_result?;
    let (entries, foreign_elf) = entries??;
    let (written, _file) = out.finish()?;
    if let (Some(start), Some(end)) = (serial_cpu_start, thread_cpu_ns()) {
        STAGE_SERIAL_CPU_NS.fetch_add(end.saturating_sub(start), Ordering::Relaxed);
    }
    tmp.commit(dest)?;
    Ok(Archived { written, entries, foreign_elf })
}

/// The compression threads for a request of `requested`: itself, or for 0
/// one per core.
pub fn compression_threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
}

/// Chunks the reader may be ahead of the hashing thread.
const READ_AHEAD_CHUNKS: usize = 2;

/// Process-wide counters of the archives being written, read by
/// [`progress`].
static PROGRESS_TAR_BYTES: AtomicU64 = AtomicU64::new(0);
static PROGRESS_ENTRIES: AtomicU64 = AtomicU64::new(0);
static PROGRESS_STORE_BYTES: AtomicU64 = AtomicU64::new(0);

/// How far the archives of this process have got, summed over every archive
/// written so far and in progress. Only ever grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of uncompressed tar hashed and handed to compression.
    pub tar_bytes: u64,
    /// Tar entries framed, not counting PAX extension headers.
    pub entries: u64,
    /// Store contents read, in bytes of their NAR serialisation: comparable
    /// with the closure's `narSize`.
    pub store_nar_bytes: u64,
}

/// A snapshot of the progress counters, for a progress display on another
/// thread. Cheap: three atomic loads.
pub fn progress() -> Progress {
    Progress {
        tar_bytes: PROGRESS_TAR_BYTES.load(Ordering::Relaxed),
        entries: PROGRESS_ENTRIES.load(Ordering::Relaxed),
        store_nar_bytes: PROGRESS_STORE_BYTES.load(Ordering::Relaxed),
    }
}

/// CPU time of the two pipeline threads, summed over every archive of this
/// process (compression workers not included).
static STAGE_READER_CPU_NS: AtomicU64 = AtomicU64::new(0);
static STAGE_SERIAL_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// CPU seconds the two threads of the pipeline took, summed over the archives
/// written by this process: what bounds an archive's speed however many
/// compression threads it has. Zero where the kernel does not report a
/// thread's CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageCpu {
    /// The reader: walking the plan, reading files, tar framing, NAR hashes.
    pub reader_s: f64,
    /// The serial thread: SHA-512 (or the SHA-256 of a layer) over the tar,
    /// handing the chunks on (and, for xz, the encoder's writes).
    pub serial_s: f64,
}

/// A snapshot of [`StageCpu`].
pub fn stage_cpu() -> StageCpu {
    StageCpu {
        reader_s: STAGE_READER_CPU_NS.load(Ordering::Relaxed) as f64 / 1e9,
        serial_s: STAGE_SERIAL_CPU_NS.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

/// The calling thread's CPU time in nanoseconds since it started: the first
/// field of Linux's `/proc/thread-self/schedstat`. `None` where that file is
/// missing (a kernel without scheduler statistics, no /proc).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The output file under a temporary name in dest's directory; removed when
/// dropped unless committed.
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
    committed: bool,
}

impl TempFile {
    fn create(dest: &Path) -> Result<TempFile, ArchiveError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut name = std::ffi::OsString::from(".");
        name.push(dest.file_name().unwrap_or_else(|| std::ffi::OsStr::new("image.aci")));
        // pid and a counter: concurrent writers (threads, processes) never share
        // a temporary file.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        name.push(format!(".tmp-{}-{n}", std::process::id()));
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| ArchiveError::Create { path: path.clone(), source })?;
        Ok(TempFile { path, file, committed: false })
    }

    fn commit(mut self, dest: &Path) -> Result<(), ArchiveError> {
        std::fs::rename(&self.path, dest).map_err(|source| ArchiveError::Rename {
            from: self.path.clone(),
            to: dest.to_path_buf(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
