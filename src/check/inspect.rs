//! `mkaci inspect IMAGE.aci`: reads an image in one streaming pass, recomputes
//! its ID and checks the archive layout rules (`docs/appc.md`), which are stricter
//! than `actool validate`:
//! - compression recognised by magic bytes (gzip incl. multi-member, xz, bzip2,
//!   plain ustar), never the file name; nothing after the compressed stream;
//! - exactly `manifest` (a regular file) and `rootfs` (a directory, with its own
//!   entry) at the top level;
//! - no PAX global header, no absolute names, no `..`, no two entries that
//!   normalise to the same name;
//! - every entry's parent an earlier directory entry (so nothing lies below a
//!   symlink, and no extractor invents a directory's mode);
//! - hard link targets under `rootfs/`, earlier in the archive, and not
//!   directories;
//! - an end-of-archive marker, and only zeros after it;
//! - the tar itself read by [`crate::check::tar`], which refuses what tools
//!   could read differently (a NUL in a name, conflicting extensions) and
//!   bounds every extension; at most [`max_entries`] entries, at most
//!   [`max_unpacked`] bytes of tar (a decompression bomb is stopped in
//!   time, not only in memory), and the xz decoder limited to [`XZ_MEMLIMIT`].
//!
//! The image ID is the SHA-512 of every byte of the uncompressed tar (appc
//! "Image ID"), trailing zero blocks included.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256, Sha512};

use crate::archive::untrusted::{open_regular, UntrustedFileError};
use crate::check::tar::{TarEntry, TarError, TarReader};
use crate::image::image_id::ImageId;

/// Largest manifest we read into memory. A thin image of a 2000-path closure has
/// a manifest of a few hundred KiB.
pub const MAX_MANIFEST_SIZE: u64 = 16 << 20;

/// What [`read_image`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    pub image_id: ImageId,
    /// The `manifest` file's bytes, as stored.
    pub manifest_bytes: Vec<u8>,
    /// Tar entries, not counting PAX or GNU extension headers.
    pub entries: u64,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
    /// Bytes of the image file.
    pub compressed_size: u64,
    /// `"gzip"`, `"xz"`, `"bzip2"` or `"none"`.
    pub compression: &'static str,
    /// Compressed members or streams (mkaci's gzip images have one per MiB of
    /// tar); 1 for a plain tar.
    pub members: u64,
    pub rootfs: RootfsStats,
}

/// Counts of what is under `rootfs/` (the `rootfs` entry itself included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootfsStats {
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Devices and FIFOs.
    pub other: u64,
    /// Sum of the regular files' sizes.
    pub file_bytes: u64,
    pub largest_file: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("cannot read {} ({compression}): {source}", path.display())]
    Read { path: PathBuf, compression: &'static str, source: std::io::Error },
    #[error("{} is not an ACI: it starts with bytes {magic}; an ACI is gzip (1f 8b), bzip2 (42 5a 68), xz (fd 37 7a 58 5a 00) or a plain ustar tar", path.display())]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{} is zstd-compressed; appc only allows gzip, bzip2, xz or no compression (actool rejects zstd)", path.display())]
    Zstd { path: PathBuf },
    #[error("{} has {count} bytes after the end of the {compression} stream at offset {offset}; rkt refuses images with trailing bytes", path.display())]
    TrailingBytes { path: PathBuf, compression: &'static str, offset: u64, count: u64 },
    #[error("the tar has no end-of-archive marker (two zero blocks) at offset {offset}; the image is truncated")]
    MissingEndOfArchive { offset: u64 },
    #[error("the tar has non-zero data at offset {offset}, after its end-of-archive marker")]
    DataAfterEndOfArchive { offset: u64 },
    #[error(
        "entry {index} is a PAX global header; actool counts it as a file outside rootfs, use per-file PAX headers"
    )]
    GlobalPaxHeader { index: u64 },
    #[error("entry {name:?} has an absolute name; names must be relative (manifest, rootfs/...)")]
    AbsoluteName { name: String },
    #[error("entry {name:?} contains \"..\"; names must stay inside the image")]
    DotDot { name: String },
    #[error("entry {name:?} appears twice in the archive")]
    Duplicate { name: String },
    #[error("entry {name:?} is at the top level; only \"manifest\" and \"rootfs\" may be there")]
    UnexpectedTopLevel { name: String },
    #[error("\"manifest\" is a {kind}; it must be a regular file")]
    ManifestNotFile { kind: &'static str },
    #[error("\"rootfs\" is a {kind}; it must be a directory")]
    RootfsNotDir { kind: &'static str },
    #[error("the image has no \"manifest\" file")]
    MissingManifest,
    #[error("the image has no \"rootfs\" directory entry; write it explicitly")]
    MissingRootfsDir,
    #[error("the manifest is {size} bytes; at most {MAX_MANIFEST_SIZE} are accepted")]
    ManifestTooLarge { size: u64 },
    #[error("hard link {name:?} points to {target:?}, which is not under rootfs/ (the target must carry the rootfs/ prefix)")]
    HardLinkOutsideRootfs { name: String, target: String },
    #[error("hard link {name:?} points to {target:?}, which does not come earlier in the archive")]
    HardLinkTargetNotEarlier { name: String, target: String },
    #[error("entry {name:?} has tar type {kind:?}, which an ACI cannot hold (allowed: file, directory, symlink, hard link, device, fifo)")]
    UnsupportedEntryType { name: String, kind: char },
    #[error(transparent)]
    File(#[from] UntrustedFileError),
    #[error("the image's tar cannot be read the same way by every tool: {0}")]
    Tar(TarError),
    #[error(
        "entry {name:?} lies below {parent:?}, which is a {kind} in the image: an extractor would write \
         through it (a symlink leads anywhere) or fail; an entry's parent must be a directory"
    )]
    BelowNonDirectory { name: String, parent: String, kind: &'static str },
    #[error(
        "entry {name:?} comes before (or without) its directory {parent:?}; every directory needs its \
         own entry before what it holds, or extractors make it with modes and owners of their own"
    )]
    MissingParent { name: String, parent: String },
    #[error("hard link {name:?} points to {target:?}, which is a directory; hard links to directories cannot be made")]
    HardLinkToDirectory { name: String, target: String },
}

/// Entries an image may hold unless [`MAX_ENTRIES_VAR`] says otherwise: far
/// more than any closure has files, and small enough that the names seen
/// (16 bytes of SHA-256 each) stay under 100 MiB.
pub const DEFAULT_MAX_ENTRIES: u64 = 2_000_000;

/// The environment variable that raises (or lowers) the entry limit of
/// `mkaci inspect` and `mkaci verify`.
pub const MAX_ENTRIES_VAR: &str = "MKACI_MAX_ENTRIES";

/// Memory the xz decoder may use: xz -9 (a 64 MiB dictionary) needs 65 MiB.
pub const XZ_MEMLIMIT: u64 = 96 << 20;

/// The entry limit: [`MAX_ENTRIES_VAR`] when it is set to a number, else
/// [`DEFAULT_MAX_ENTRIES`].
pub fn max_entries() -> u64 {
    std::env::var(MAX_ENTRIES_VAR).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_MAX_ENTRIES)
}

/// Reads, hashes and checks an image in one streaming pass.
pub fn read_image(path: &Path) -> Result<ImageReport, InspectError> {
    let (file, compressed_size) = open_regular(path)?;
    let mut raw = Counting { inner: BufReader::with_capacity(256 << 10, file), consumed: 0 };
    let head =
        raw.fill_buf().map_err(|source| InspectError::Read { path: path.into(), compression: "none", source })?;
    let kind = detect(head).ok_or_else(|| {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            InspectError::Zstd { path: path.into() }
        } else {
            let magic = head.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            InspectError::UnknownFormat {
                path: path.into(),
                magic: if magic.is_empty() { "(empty file)".into() } else { magic },
            }
        }
    })?;
    let compression = kind.name();
    let read_err = |source: std::io::Error| InspectError::Read { path: path.into(), compression, source };
    let tar_err = |e: TarError| match e {
        TarError::Io { source, .. } => read_err(source),
        TarError::MissingEnd { offset } => InspectError::MissingEndOfArchive { offset },
        other => InspectError::Tar(other),
    };

    let stream = Decompressed { dec: Some(Decoder::new(kind, raw)), kind, members: 1, trailing: None };
    let limit = max_unpacked();
    let stream = UnpackLimit { inner: stream, left: limit, limit };
    let hashed = Hashing::new(stream);
    let mut checker = Layout::default();
    let mut manifest_bytes = None;
    let mut tar = TarReader::new(
        hashed,
        max_entries(),
        "raise the limit with the environment variable MKACI_MAX_ENTRIES=N if the image is genuine",
    );
    while let Some(entry) = tar.next_entry().map_err(tar_err)? {
        let is_manifest = checker.check(&entry)?;
        if is_manifest {
            let size = entry.size;
            if size > MAX_MANIFEST_SIZE {
                return Err(InspectError::ManifestTooLarge { size });
            }
            let mut bytes = Vec::with_capacity(size as usize);
            tar.data().read_to_end(&mut bytes).map_err(read_err)?;
            manifest_bytes = Some(bytes);
        }
    }
    // The tar reader stops after the first zero block; what follows must be the
    // second zero block and only zeros (record padding), all part of the ID.
    let end_start = tar.position();
    let mut hashed = tar.into_inner();
    let mut buf = vec![0u8; 256 << 10];
    let mut zeros_after = 0u64;
    loop {
        let n = match hashed.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            return Err(InspectError::DataAfterEndOfArchive { offset: end_start + zeros_after + i as u64 });
        }
        zeros_after += n as u64;
    }
    if zeros_after < 512 {
        return Err(InspectError::MissingEndOfArchive { offset: end_start - 512 });
    }
    let (UnpackLimit { inner: stream, .. }, digest, tar_size) = hashed.finish();
    if let Some(offset) = stream.trailing {
        return Err(InspectError::TrailingBytes {
            path: path.into(),
            compression,
            offset,
            count: compressed_size.saturating_sub(offset),
        });
    }
    let manifest_bytes = manifest_bytes.ok_or(InspectError::MissingManifest)?;
    if !checker.rootfs_seen {
        return Err(InspectError::MissingRootfsDir);
    }
    Ok(ImageReport {
        image_id: ImageId::from_digest(digest),
        manifest_bytes,
        entries: checker.entries,
        tar_size,
        compressed_size,
        compression,
        members: stream.members,
        rootfs: checker.stats,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gzip,
    Xz,
    Bzip2,
    Plain,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gzip => "gzip",
            Kind::Xz => "xz",
            Kind::Bzip2 => "bzip2",
            Kind::Plain => "none",
        }
    }

    /// The first byte of another member or stream, when the format allows
    /// concatenation.
    fn continues(self, b: u8) -> bool {
        match self {
            Kind::Gzip => b == 0x1f,
            Kind::Bzip2 => b == b'B',
            Kind::Xz => b == 0xfd,
            Kind::Plain => false,
        }
    }
}

fn detect(head: &[u8]) -> Option<Kind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Kind::Xz)
    } else if head.starts_with(b"BZh") {
        Some(Kind::Bzip2)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Kind::Plain)
    } else {
        None
    }
}

/// A buffered reader that counts consumed bytes (the offset in the file).
struct Counting<R> {
    inner: BufReader<R>,
    consumed: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: Read> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt)
    }
}

type Raw = Counting<File>;

enum Decoder {
    Plain(Raw),
    Gzip(flate2::bufread::GzDecoder<Raw>),
    Xz(XzStream),
    Bzip2(bzip2::bufread::BzDecoder<Raw>),
}

impl Decoder {
    fn new(kind: Kind, raw: Raw) -> Decoder {
        match kind {
            Kind::Plain => Decoder::Plain(raw),
            Kind::Gzip => Decoder::Gzip(flate2::bufread::GzDecoder::new(raw)),
            Kind::Xz => Decoder::Xz(XzStream::new(raw)),
            Kind::Bzip2 => Decoder::Bzip2(bzip2::bufread::BzDecoder::new(raw)),
        }
    }

    fn into_inner(self) -> Raw {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Xz(d) => d.raw,
            Decoder::Bzip2(d) => d.into_inner(),
        }
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
        }
    }
}

/// One xz stream. (xz2's `bufread::XzDecoder` reports "corrupt xz stream" when
/// bytes follow the stream end instead of stopping there, which would hide
/// trailing bytes behind a misleading error.)
struct XzStream {
    raw: Raw,
    stream: xz2::stream::Stream,
    ended: bool,
}

impl XzStream {
    fn new(raw: Raw) -> XzStream {
        let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0).expect("liblzma decoder init");
        XzStream { raw, stream, ended: false }
    }
}

impl Read for XzStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.raw.fill_buf()?;
            let eof = input.is_empty();
            let (in0, out0) = (self.stream.total_in(), self.stream.total_out());
            let action = if eof { xz2::stream::Action::Finish } else { xz2::stream::Action::Run };
            let status = self.stream.process(input, buf, action);
            let consumed = (self.stream.total_in() - in0) as usize;
            let read = (self.stream.total_out() - out0) as usize;
            self.raw.consume(consumed);
            let status = status.map_err(|e| match e {
                xz2::stream::Error::MemLimit => std::io::Error::other(format!(
                    "the xz stream needs more than {} MiB of memory to decode (a larger dictionary than \
                     xz -9 uses); recompress it with xz -9 or a lower preset",
                    XZ_MEMLIMIT >> 20
                )),
                e => std::io::Error::from(e),
            })?;
            if status == xz2::stream::Status::StreamEnd {
                self.ended = true;
                return Ok(read);
            }
            if read > 0 {
                return Ok(read);
            }
            if eof {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the xz stream is truncated"));
            }
            if consumed == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt xz stream"));
            }
        }
    }
}

/// The uncompressed tar: member after member (gzip, bzip2 and xz allow
/// concatenation) until the file ends. If other bytes follow a member, the
/// stream ends there and `trailing` records their offset.
struct Decompressed {
    dec: Option<Decoder>,
    kind: Kind,
    members: u64,
    trailing: Option<u64>,
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else { return Ok(0) };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let mut raw = self.dec.take().expect("decoder present").into_inner();
            if self.kind == Kind::Plain {
                return Ok(0);
            }
            let next = raw.fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            if self.kind.continues(next[0]) {
                self.members += 1;
                self.dec = Some(Decoder::new(self.kind, raw));
            } else {
                self.trailing = Some(raw.consumed);
                return Ok(0);
            }
        }
    }
}

/// Hashes (SHA-512: the image ID) and counts every byte read through it.
/// The hashing runs on a second thread, fed 1 MiB chunks: it costs about as
/// much as the decompression, and the two then run side by side. At most a
/// few chunks are in flight. Where no thread can be started, it hashes
/// inline.
struct Hashing<R> {
    inner: R,
    count: u64,
    mode: HashMode,
}

enum HashMode {
    Inline(Box<Sha512>),
    Thread {
        chunk: Vec<u8>,
        to_hasher: std::sync::mpsc::SyncSender<Vec<u8>>,
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
        hasher: std::thread::JoinHandle<[u8; 64]>,
    },
}

const HASH_CHUNK: usize = 1 << 20;

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        use std::sync::mpsc::sync_channel;
        let (to_hasher, chunks) = sync_channel::<Vec<u8>>(2);
        let (give_back, spare) = sync_channel::<Vec<u8>>(4);
        let spawned = std::thread::Builder::new().name("sha512".into()).spawn(move || {
            let mut h = Sha512::new();
            for mut chunk in chunks {
                h.update(&chunk);
                chunk.clear();
                let _ = give_back.try_send(chunk);
            }
            h.finalize().into()
        });
        let mode = match spawned {
            Ok(hasher) => HashMode::Thread { chunk: Vec::with_capacity(HASH_CHUNK), to_hasher, spare, hasher },
            Err(_) => HashMode::Inline(Box::default()),
        };
        Hashing { inner, count: 0, mode }
    }

    /// The reader, the SHA-512 of all that was read, and its length.
    fn finish(self) -> (R, [u8; 64], u64) {
        let digest = match self.mode {
            HashMode::Inline(h) => h.finalize().into(),
            HashMode::Thread { chunk, to_hasher, hasher, .. } => {
                // The hasher ends when the sender is gone, having hashed
                // every chunk sent (a send fails only if it panicked).
                let _ = to_hasher.send(chunk);
                drop(to_hasher);
                match hasher.join() {
                    Ok(d) => d,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        };
        (self.inner, digest, self.count)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        match &mut self.mode {
            HashMode::Inline(h) => h.update(&buf[..n]),
            HashMode::Thread { chunk, to_hasher, spare, .. } => {
                chunk.extend_from_slice(&buf[..n]);
                if chunk.len() >= HASH_CHUNK {
                    let next = spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
                    let full = std::mem::replace(chunk, next);
                    to_hasher.send(full).map_err(|_| std::io::Error::other("the hashing thread ended early"))?;
                }
            }
        }
        Ok(n)
    }
}

/// Bytes an image may unpack to (an ACI's tar, or all the layer tars of an
/// OCI image together) unless [`MAX_UNPACKED_VAR`] says otherwise: 64 GiB,
/// far above any image a runtime would unpack, and what a decompression bomb
/// of a few MiB takes minutes to reach.
pub const DEFAULT_MAX_UNPACKED: u64 = 64 << 30;

/// The environment variable that raises (or lowers) [`DEFAULT_MAX_UNPACKED`].
pub const MAX_UNPACKED_VAR: &str = "MKACI_MAX_UNPACKED";

/// The unpacked-size limit: [`MAX_UNPACKED_VAR`] when it is set to a number
/// of bytes, else [`DEFAULT_MAX_UNPACKED`].
pub fn max_unpacked() -> u64 {
    std::env::var(MAX_UNPACKED_VAR).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_MAX_UNPACKED)
}

/// The error [`UnpackLimit`] fails with (inside an `io::Error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the image unpacks to more than {limit} bytes, the most mkaci decompresses for one image, so it stops \
     there as it would for a decompression bomb; if the image is genuine, raise the limit with the \
     environment variable MKACI_MAX_UNPACKED=BYTES"
)]
pub struct UnpackLimitExceeded {
    pub limit: u64,
}

/// Passes on what it reads until `left` bytes have passed, then fails with
/// an error that names the limit and how to raise it.
pub struct UnpackLimit<R> {
    pub inner: R,
    /// Bytes still allowed.
    pub left: u64,
    /// The whole limit, for the message.
    pub limit: u64,
}

impl<R: Read> Read for UnpackLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.left = 0;
            return Err(std::io::Error::other(UnpackLimitExceeded { limit: self.limit }));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The layout rules, checked entry by entry. Each name seen is kept as the
/// first 16 bytes of its SHA-256, with what it is, so that memory stays
/// bounded by the entry count whatever the names' lengths.
#[derive(Default)]
struct Layout {
    seen: HashMap<[u8; 16], u8>,
    entries: u64,
    rootfs_seen: bool,
    stats: RootfsStats,
}

fn key(name: &[u8]) -> [u8; 16] {
    let d = Sha256::digest(name);
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `name` without empty and `.` components; errors on absolute names and `..`.
fn normalize(name: &[u8]) -> Result<Vec<u8>, InspectError> {
    if name.starts_with(b"/") {
        return Err(InspectError::AbsoluteName { name: show(name) });
    }
    let mut out = Vec::with_capacity(name.len());
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => continue,
            b".." => return Err(InspectError::DotDot { name: show(name) }),
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

impl Layout {
    /// Checks one entry; returns true if it is the manifest.
    fn check(&mut self, entry: &TarEntry) -> Result<bool, InspectError> {
        let ty = entry.kind;
        let raw_name = &entry.name;
        if ty == b'g' {
            return Err(InspectError::GlobalPaxHeader { index: self.entries });
        }
        if !matches!(ty, b'0'..=b'6') {
            return Err(InspectError::UnsupportedEntryType { name: show(raw_name), kind: ty as char });
        }
        let name = normalize(raw_name)?;
        self.entries += 1;
        let top = name.split(|&b| b == b'/').next().unwrap_or(b"");
        let parent = name.iter().rposition(|&b| b == b'/').map(|i| &name[..i]);
        let is_manifest = match (top, parent.is_none()) {
            (b"manifest", true) => {
                if ty != b'0' {
                    return Err(InspectError::ManifestNotFile { kind: super::tar::kind_name(ty) });
                }
                true
            }
            (b"rootfs", true) => {
                if ty != b'5' {
                    return Err(InspectError::RootfsNotDir { kind: super::tar::kind_name(ty) });
                }
                self.rootfs_seen = true;
                false
            }
            (b"rootfs", false) => false,
            _ => return Err(InspectError::UnexpectedTopLevel { name: show(raw_name) }),
        };
        if let Some(parent) = parent {
            match self.seen.get(&key(parent)) {
                Some(b'5') => {}
                Some(&kind) => {
                    return Err(InspectError::BelowNonDirectory {
                        name: show(raw_name),
                        parent: show(parent),
                        kind: super::tar::kind_name(kind),
                    })
                }
                None if parent == b"rootfs" => return Err(InspectError::MissingRootfsDir),
                None => return Err(InspectError::MissingParent { name: show(raw_name), parent: show(parent) }),
            }
        }
        if ty == b'1' {
            let target = normalize(&entry.link)?;
            if !target.starts_with(b"rootfs/") {
                return Err(InspectError::HardLinkOutsideRootfs { name: show(raw_name), target: show(&entry.link) });
            }
            match self.seen.get(&key(&target)) {
                None => {
                    return Err(InspectError::HardLinkTargetNotEarlier {
                        name: show(raw_name),
                        target: show(&entry.link),
                    })
                }
                Some(b'5') => {
                    return Err(InspectError::HardLinkToDirectory { name: show(raw_name), target: show(&entry.link) })
                }
                Some(_) => {}
            }
        }
        if top == b"rootfs" {
            let s = &mut self.stats;
            match ty {
                b'5' => s.dirs += 1,
                b'2' => s.symlinks += 1,
                b'1' => s.hardlinks += 1,
                b'0' => {
                    s.files += 1;
                    s.file_bytes += entry.size;
                    s.largest_file = s.largest_file.max(entry.size);
                }
                _ => s.other += 1,
            }
        }
        if self.seen.insert(key(&name), ty).is_some() {
            return Err(InspectError::Duplicate { name: show(raw_name) });
        }
        Ok(is_manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_or_fail_with_their_variant() {
        assert_eq!(normalize(b"./rootfs//a/./b/").unwrap(), b"rootfs/a/b");
        assert!(matches!(normalize(b"/rootfs/a"), Err(InspectError::AbsoluteName { .. })));
        assert!(matches!(normalize(b"rootfs/a/../../etc"), Err(InspectError::DotDot { .. })));
        assert!(matches!(normalize(b".."), Err(InspectError::DotDot { .. })));
    }

    #[test]
    fn magic_bytes_decide_the_format() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Some(Kind::Gzip));
        assert_eq!(detect(b"BZh91AY"), Some(Kind::Bzip2));
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]), Some(Kind::Xz));
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(detect(&tar), Some(Kind::Plain));
        assert_eq!(detect(&[0u8; 512]), None);
        assert_eq!(detect(&[0x1f]), None);
    }
}
