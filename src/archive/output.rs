//! The output stage: where the tar bytes go once the framing has produced them.
//!
//! `Output` buffers the tar stream into fixed [`CHUNK_SIZE`] chunks, hashes
//! every uncompressed byte with the digests asked for up front ([`DigestSet`]),
//! compresses (parallel multi-member gzip, parallel multi-frame zstd,
//! multi-threaded xz, or nothing) and
//! writes the result to any [`Write`] in order, hashing the compressed bytes
//! on their way out when asked. Nothing is ever read back: every digest is
//! computed while the bytes pass through.
//!
//! The digests an artifact may need:
//! - SHA-512 of the uncompressed tar: the image ID of an ACI
//!   (<https://github.com/appc/spec/blob/master/spec/aci.md>);
//! - SHA-256 of the uncompressed tar: the `diff_id` of an OCI layer, and
//! - SHA-256 of the compressed bytes: the digest of the OCI layer blob
//!   (<https://github.com/opencontainers/image-spec/blob/main/layer.md>).
//!
//! Only the digests asked for are computed, so an ACI pays for SHA-512 alone.
//!
//! Chunk boundaries depend only on offsets in the tar stream, so the output is
//! the same whatever the reads, the thread count or the scheduling.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::framing::{CopyError, TarSink};
use super::{ArchiveError, Compression, GzipLevel, ZstdLevel, CHUNK_SIZE};

/// The digests an output computes, chosen before the first byte is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestSet {
    /// SHA-512 of the uncompressed tar: the appc image ID.
    pub sha512_tar: bool,
    /// SHA-256 of the uncompressed tar: an OCI layer's `diff_id`.
    pub sha256_tar: bool,
    /// SHA-256 of the bytes written (compressed, or the tar itself with
    /// [`Compression::None`]): an OCI layer blob's digest.
    pub sha256_compressed: bool,
}

impl DigestSet {
    /// What an ACI needs: its image ID.
    pub const ACI: DigestSet = DigestSet { sha512_tar: true, sha256_tar: false, sha256_compressed: false };
    /// What an OCI layer needs: its `diff_id` and its blob digest.
    pub const LAYER: DigestSet = DigestSet { sha512_tar: false, sha256_tar: true, sha256_compressed: true };
}

/// A SHA-256 digest, shown as OCI writes digests: `sha256:` and 64 lowercase
/// hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What the output stage wrote: sizes, and the digests that were asked for
/// (`None` for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
    /// Bytes written to the destination.
    pub compressed_size: u64,
    /// SHA-512 of the uncompressed tar.
    pub sha512_tar: Option<[u8; 64]>,
    /// SHA-256 of the uncompressed tar.
    pub sha256_tar: Option<Sha256Digest>,
    /// SHA-256 of the bytes written.
    pub sha256_compressed: Option<Sha256Digest>,
}

/// The serial end of the pipeline: it takes the [`Chunker`]'s chunks in order
/// ([`Output::chunk`]), hashes them and hands them on: to the compressors,
/// whose members a [`WriterThread`] writes in order, or (uncompressed)
/// straight to that writer. Writing, and hashing what is written, happen off
/// this thread, except for xz, whose encoder writes from the thread feeding it.
pub(super) struct Output<W: Write + Send + 'static> {
    /// ring's SHA-512 (assembly): the fastest measured here, and the one
    /// serial step (docs/performance.md).
    sha512: Option<ring::digest::Context>,
    sha256: Option<Sha256>,
    total: u64,
    backend: Backend<W>,
    /// With [`Compression::None`] the bytes written are the tar: a requested
    /// compressed SHA-256 is the tar's SHA-256, computed once.
    compressed_is_tar_digest: bool,
}

enum Backend<W: Write + Send + 'static> {
    Plain { writer: WriterThread<W>, seq: u64, in_flight: usize },
    Xz(xz2::write::XzEncoder<Hashing<W>>),
    Chunks(ChunkPool<W>),
}

/// Uncompressed chunks handed to the writer and not yet written.
const PLAIN_IN_FLIGHT: usize = 4;

impl<W: Write + Send + 'static> Output<W> {
    /// An output writing to `out`; `path` names the destination in errors.
    pub(super) fn new(
        out: W,
        path: &Path,
        compression: Compression,
        threads: usize,
        digests: DigestSet,
    ) -> Result<Output<W>, ArchiveError> {
        let plain_shares_digest = compression == Compression::None && digests.sha256_tar;
        let hash_out = digests.sha256_compressed && !plain_shares_digest;
        let out = Hashing { inner: out, path: path.to_path_buf(), written: 0, sha256: hash_out.then(Sha256::new) };
        let backend = match compression {
            Compression::None => Backend::Plain { writer: WriterThread::spawn(out), seq: 0, in_flight: 0 },
            Compression::Xz { level } => {
                let level = level.get();
                // Independent blocks of a fixed size (liblzma's own default for the
                // preset, 3 x dictionary, written out so it never changes under us):
                // the multi-threaded encoder's output then does not depend on the
                // thread count.
                let threads = threads.clamp(1, 64) as u32;
                let stream = xz2::stream::MtStreamBuilder::new()
                    .threads(threads)
                    .preset(level)
                    .block_size(xz_block_size(level))
                    .check(xz2::stream::Check::Crc64)
                    .encoder()
                    .map_err(|source| ArchiveError::XzInit { level, threads, source })?;
                Backend::Xz(xz2::write::XzEncoder::new_stream(out, stream))
            }
            Compression::Gzip { level } => Backend::Chunks(ChunkPool::new(out, Codec::Gzip(level), threads)),
            Compression::Zstd { level } => Backend::Chunks(ChunkPool::new(out, Codec::Zstd(level), threads)),
        };
        Ok(Output {
            sha512: digests.sha512_tar.then(|| ring::digest::Context::new(&ring::digest::SHA512)),
            sha256: digests.sha256_tar.then(Sha256::new),
            total: 0,
            backend,
            compressed_is_tar_digest: plain_shares_digest && digests.sha256_compressed,
        })
    }

    /// Takes the next chunk of the tar stream, `buf[..len]`: hashes it,
    /// compresses and writes it. Every chunk but the last must be
    /// [`CHUNK_SIZE`] bytes long. Returns a buffer of [`CHUNK_SIZE`] bytes
    /// the caller may fill next, when one is free.
    pub(super) fn chunk(&mut self, buf: Vec<u8>, len: usize) -> Result<Option<Vec<u8>>, ArchiveError> {
        let chunk = &buf[..len];
        if let Some(h) = &mut self.sha512 {
            h.update(chunk);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(chunk);
        }
        self.total += chunk.len() as u64;
        match &mut self.backend {
            Backend::Plain { writer, seq, in_flight } => {
                writer.send(Piece { seq: *seq, bytes: buf, len, input: None, reuse: true })?;
                *seq += 1;
                *in_flight += 1;
                let spare = if *in_flight > PLAIN_IN_FLIGHT { Some(writer.wait_freed()?) } else { writer.try_freed() };
                *in_flight -= usize::from(spare.is_some());
                return Ok(spare);
            }
            Backend::Xz(enc) => enc
                .write_all(chunk)
                .map_err(|source| ArchiveError::Write { path: enc.get_ref().path.clone(), source })?,
            Backend::Chunks(pool) => {
                pool.submit(buf, len)?;
                return Ok(pool.free.pop());
            }
        }
        Ok(Some(buf))
    }

    /// Finishes the compressed stream and returns the
    /// sizes and digests, and the destination (flushed, not synced).
    pub(super) fn finish(self) -> Result<(Written, W), ArchiveError> {
        let mut out = match self.backend {
            Backend::Plain { writer, .. } => writer.finish()?,
            Backend::Xz(enc) => {
                // `finish` consumes the encoder: keep the path for its error.
                let path = enc.get_ref().path.clone();
                enc.finish().map_err(|source| ArchiveError::Write { path, source })?
            }
            Backend::Chunks(pool) => pool.finish()?,
        };
        out.inner.flush().map_err(|source| ArchiveError::Write { path: out.path.clone(), source })?;
        let sha256_tar = self.sha256.map(|h| Sha256Digest(h.finalize().into()));
        let sha256_compressed = match out.sha256 {
            Some(h) => Some(Sha256Digest(h.finalize().into())),
            None if self.compressed_is_tar_digest => sha256_tar,
            None => None,
        };
        let written = Written {
            tar_size: self.total,
            compressed_size: out.written,
            sha512_tar: self.sha512.map(|h| h.finish().as_ref().try_into().expect("SHA-512 has 64 bytes")),
            sha256_tar,
            sha256_compressed,
        };
        Ok((written, out.inner))
    }
}

/// The reading side of the pipeline: the framing writes the tar stream into
/// it, and it hands [`CHUNK_SIZE`] chunks, in order, to the thread that owns
/// the [`Output`] (through `full`), taking back the buffers that thread has
/// done with (through `spare`). Chunk boundaries depend only on offsets in
/// the stream, never on how the framing writes or how fast either side runs.
pub(super) struct Chunker {
    buf: Vec<u8>,
    fill: usize,
    full: SyncSender<(Vec<u8>, usize)>,
    spare: Receiver<Vec<u8>>,
}

impl Chunker {
    pub(super) fn new(full: SyncSender<(Vec<u8>, usize)>, spare: Receiver<Vec<u8>>) -> Chunker {
        Chunker { buf: vec![0; CHUNK_SIZE], fill: 0, full, spare }
    }

    fn send(&mut self) -> Result<(), ArchiveError> {
        let next = self.spare.try_recv().unwrap_or_else(|_| vec![0; CHUNK_SIZE]);
        let full = std::mem::replace(&mut self.buf, next);
        let len = std::mem::replace(&mut self.fill, 0);
        // The receiver is gone only when the output side failed; it reports
        // its own error.
        self.full.send((full, len)).map_err(|_| ArchiveError::WorkerFailed)
    }

    /// Hands over the last, partial chunk.
    pub(super) fn finish(mut self) -> Result<(), ArchiveError> {
        if self.fill > 0 {
            self.send()?;
        }
        Ok(())
    }
}

impl TarSink for Chunker {
    fn write(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        while !data.is_empty() {
            let n = data.len().min(CHUNK_SIZE - self.fill);
            self.buf[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == CHUNK_SIZE {
                self.send()?;
            }
        }
        Ok(())
    }

    fn copy_from<R: Read>(&mut self, r: &mut R, len: u64, tap: &mut dyn FnMut(&[u8])) -> Result<u64, CopyError> {
        let mut done = 0u64;
        while done < len {
            let want = ((len - done).min((CHUNK_SIZE - self.fill) as u64)) as usize;
            let n = match r.read(&mut self.buf[self.fill..self.fill + want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            tap(&self.buf[self.fill..self.fill + n]);
            self.fill += n;
            done += n as u64;
            if self.fill == CHUNK_SIZE {
                self.send().map_err(CopyError::Sink)?;
            }
        }
        Ok(done)
    }
}

/// Block size of the xz encoder: 3 x the preset's dictionary, at least 1 MiB
/// (liblzma's rule for its default, fixed here).
fn xz_block_size(level: u32) -> u64 {
    const DICT: [u64; 10] =
        [256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20];
    (3 * DICT[level.min(9) as usize]).max(1 << 20)
}

/// The destination, counting and (when asked) hashing the bytes written.
struct Hashing<W> {
    inner: W,
    path: PathBuf,
    written: u64,
    sha256: Option<Sha256>,
}

impl<W: Write> Hashing<W> {
    fn write_all_or_fail(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.write_all(bytes).map_err(|source| ArchiveError::Write { path: self.path.clone(), source })
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.sha256 {
            h.update(&buf[..n]);
        }
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Chunks in flight (queued, compressing, or compressed and waiting for their
/// turn) per worker thread.
const MAX_IN_FLIGHT_PER_THREAD: usize = 2;

struct Job {
    seq: u64,
    data: Vec<u8>,
    len: usize,
}

/// What the [`WriterThread`] takes: `bytes[..len]` is the `seq`th piece of
/// the output. `input`, the chunk a compressed piece was made from, goes back
/// to the serial thread as soon as the piece arrives; `bytes` itself goes back
/// once written when `reuse` is set (an uncompressed chunk).
struct Piece {
    seq: u64,
    bytes: Vec<u8>,
    len: usize,
    input: Option<Vec<u8>>,
    reuse: bool,
}

/// A compression worker that failed sends `None`.
type PieceMsg = Option<Piece>;

/// The thread that writes the destination: it takes pieces in any order,
/// writes them in sequence order (hashing them on the way out when asked) and
/// hands the buffers it is done with back to the serial thread.
struct WriterThread<W> {
    pieces: Option<Sender<PieceMsg>>,
    freed: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<Result<Hashing<W>, ArchiveError>>>,
}

impl<W: Write + Send + 'static> WriterThread<W> {
    fn spawn(out: Hashing<W>) -> WriterThread<W> {
        let (pieces_tx, pieces_rx) = channel::<PieceMsg>();
        let (freed_tx, freed_rx) = channel::<Vec<u8>>();
        let handle = std::thread::spawn(move || write_in_order(out, pieces_rx, freed_tx));
        WriterThread { pieces: Some(pieces_tx), freed: freed_rx, handle: Some(handle) }
    }

    /// Another sender of pieces, for a compression worker.
    fn sender(&self) -> Option<Sender<PieceMsg>> {
        self.pieces.clone()
    }

    fn send(&mut self, piece: Piece) -> Result<(), ArchiveError> {
        match self.pieces.as_ref().map(|tx| tx.send(Some(piece))) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.failure()),
        }
    }

    /// The next buffer the writer is done with, waiting for it.
    fn wait_freed(&mut self) -> Result<Vec<u8>, ArchiveError> {
        self.freed.recv().map_err(|_| self.failure())
    }

    /// A buffer the writer is done with, if one is waiting.
    fn try_freed(&mut self) -> Option<Vec<u8>> {
        self.freed.try_recv().ok()
    }

    /// Why the writer stopped: its own error (a failed write names the
    /// destination), or [`ArchiveError::WorkerFailed`].
    fn failure(&mut self) -> ArchiveError {
        self.join().err().unwrap_or(ArchiveError::WorkerFailed)
    }

    /// Waits for every piece sent to be written (the other senders must be
    /// gone) and returns the destination.
    fn finish(mut self) -> Result<Hashing<W>, ArchiveError> {
        self.join()
    }

    /// Stops sending and waits for the thread: its result, or
    /// [`ArchiveError::WorkerFailed`] when it panicked or was joined before.
    fn join(&mut self) -> Result<Hashing<W>, ArchiveError> {
        self.pieces = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(ArchiveError::WorkerFailed),
        }
    }
}

fn write_in_order<W: Write>(
    mut out: Hashing<W>,
    pieces: Receiver<PieceMsg>,
    freed: Sender<Vec<u8>>,
) -> Result<Hashing<W>, ArchiveError> {
    let mut next = 0u64;
    let mut pending: BTreeMap<u64, Piece> = BTreeMap::new();
    for msg in pieces {
        let mut piece = msg.ok_or(ArchiveError::WorkerFailed)?;
        if let Some(input) = piece.input.take() {
            // The serial thread may be gone after a failure of its own.
            let _ = freed.send(input);
        }
        pending.insert(piece.seq, piece);
        while let Some(p) = pending.remove(&next) {
            out.write_all_or_fail(&p.bytes[..p.len])?;
            next += 1;
            if p.reuse {
                let _ = freed.send(p.bytes);
            }
        }
    }
    // Every sender is gone: a gap means a piece was lost.
    if pending.is_empty() {
        Ok(out)
    } else {
        Err(ArchiveError::WorkerFailed)
    }
}

/// How a [`ChunkPool`] compresses each chunk: into one gzip member or one
/// zstd frame, independent of every other chunk. Concatenated members are a
/// gzip stream (RFC 1952, section 2.2) and concatenated frames a zstd stream
/// (RFC 8878, section 3), so the output is the chunks' outputs in order.
#[derive(Debug, Clone, Copy)]
enum Codec {
    Gzip(GzipLevel),
    Zstd(ZstdLevel),
}

/// A codec's per-worker state.
enum Compressor {
    Gzip(libdeflater::Compressor),
    Zstd(zstd::bulk::Compressor<'static>),
}

impl Compressor {
    fn new(codec: Codec) -> std::io::Result<Compressor> {
        Ok(match codec {
            Codec::Gzip(level) => Compressor::Gzip(libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(level.get() as i32)
                    .expect("a GzipLevel is within libdeflate's levels"),
            )),
            Codec::Zstd(level) => {
                let mut c = zstd::bulk::Compressor::new(level.get() as i32)?;
                // Every frame header says the same of the same chunk: its
                // content size (known, one-shot), no checksum (the layer's
                // digests cover it), no dictionary. libzstd is built without
                // its worker threads (no `zstdmt` feature), so a frame never
                // depends on the thread count.
                c.include_contentsize(true)?;
                c.include_checksum(false)?;
                c.include_dictid(false)?;
                Compressor::Zstd(c)
            }
        })
    }

    /// Compresses `input` into a new buffer: the buffer and the bytes used.
    fn compress(&mut self, input: &[u8]) -> Option<(Vec<u8>, usize)> {
        match self {
            Compressor::Gzip(c) => {
                let mut out = vec![0; c.gzip_compress_bound(input.len())];
                c.gzip_compress(input, &mut out).ok().map(|n| (out, n))
            }
            Compressor::Zstd(c) => {
                let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(input.len()));
                c.compress_to_buffer(input, &mut out).ok().map(|n| (out, n))
            }
        }
    }
}

/// Compresses chunks independently on `threads` workers (gzip members by
/// libdeflate, with no file name and mtime 0, or zstd frames by libzstd); a
/// [`WriterThread`] writes them in sequence order. At most `max_in_flight`
/// (2 x threads + 2) chunks are being compressed at once, so memory is
/// bounded by chunk size x threads whatever the closure size (with 2 threads
/// and 2 MiB chunks, at most 12 MiB of input and about as much compressed
/// output), plus each worker's compressor: libdeflate's is small; libzstd's
/// grows with the level, its tables sized for a 2 MiB input (the builder's
/// peak RSS on the toolchain, 2 threads: 37 MiB at zstd level 3, 77 MiB at
/// 12, against 44 MiB for gzip level 6; docs/bench.md).
struct ChunkPool<W: Write + Send + 'static> {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    writer: WriterThread<W>,
    next_seq: u64,
    in_flight: usize,
    max_in_flight: usize,
    free: Vec<Vec<u8>>,
}

impl<W: Write + Send + 'static> ChunkPool<W> {
    fn new(out: Hashing<W>, codec: Codec, threads: usize) -> ChunkPool<W> {
        let threads = threads.max(1);
        // Queue depth: enough chunks ahead that the workers keep busy while the
        // tar thread waits to be scheduled (a shared machine wakes threads late),
        // small enough to bound memory: at most MAX_IN_FLIGHT_PER_THREAD x
        // threads (+ 2) chunks of input and as many compressed ones.
        let max_in_flight = MAX_IN_FLIGHT_PER_THREAD * threads + 2;
        let (job_tx, job_rx) = sync_channel::<Job>(max_in_flight);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let writer = WriterThread::spawn(out);
        let workers = (0..threads)
            .filter_map(|_| {
                let rx = Arc::clone(&job_rx);
                let tx = writer.sender()?;
                Some(std::thread::spawn(move || worker(codec, rx, tx)))
            })
            .collect();
        ChunkPool { jobs: Some(job_tx), workers, writer, next_seq: 0, in_flight: 0, max_in_flight, free: Vec::new() }
    }

    fn submit(&mut self, data: Vec<u8>, len: usize) -> Result<(), ArchiveError> {
        while self.in_flight >= self.max_in_flight {
            let input = self.writer.wait_freed()?;
            self.in_flight -= 1;
            self.free.push(input);
        }
        let job = Job { seq: self.next_seq, data, len };
        self.next_seq += 1;
        self.in_flight += 1;
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.writer.failure());
        }
        while let Some(input) = self.writer.try_freed() {
            self.in_flight -= 1;
            self.free.push(input);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Hashing<W>, ArchiveError> {
        // The workers finish the queue and stop, and with them their senders
        // of pieces; then the writer has every piece.
        self.jobs = None;
        let mut stopped = false;
        for w in std::mem::take(&mut self.workers) {
            stopped |= w.join().is_err();
        }
        let out = self.writer.finish()?;
        if stopped {
            return Err(ArchiveError::WorkerFailed);
        }
        Ok(out)
    }
}

fn worker(codec: Codec, jobs: Arc<Mutex<Receiver<Job>>>, done: Sender<PieceMsg>) {
    // A compressor that cannot be made (out of memory) is a failed worker:
    // the writer reports it.
    let Ok(mut c) = Compressor::new(codec) else {
        let _ = done.send(None);
        return;
    };
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let msg = c.compress(&job.data[..job.len]).map(|(out, n)| Piece {
            seq: job.seq,
            bytes: out,
            len: n,
            input: Some(job.data),
            reuse: false,
        });
        if done.send(msg).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn tar_like(n: usize) -> Vec<u8> {
        let mut x = 0x9e3779b97f4a7c15u64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    (x >> 40) as u8
                } else {
                    b"tar-ish "[i % 8]
                }
            })
            .collect()
    }

    /// Hands `data` to `out` as the reader's [`Chunker`] does: whole
    /// [`CHUNK_SIZE`] chunks, the last one partial.
    fn feed<W: Write + Send + 'static>(out: &mut Output<W>, data: &[u8]) -> Result<(), ArchiveError> {
        for piece in data.chunks(CHUNK_SIZE) {
            let mut buf = vec![0; CHUNK_SIZE];
            buf[..piece.len()].copy_from_slice(piece);
            out.chunk(buf, piece.len())?;
        }
        Ok(())
    }

    fn run(compression: Compression, threads: usize, digests: DigestSet, data: &[u8]) -> (Written, Vec<u8>) {
        let mut out = Output::new(Vec::new(), Path::new("mem"), compression, threads, digests).unwrap();
        feed(&mut out, data).unwrap();
        out.finish().unwrap()
    }

    fn decompress(c: Compression, bytes: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        match c {
            Compression::None => v.extend_from_slice(bytes),
            // No chunk, no member (or frame): an empty tar gives an empty file.
            Compression::Gzip { .. } | Compression::Zstd { .. } if bytes.is_empty() => {}
            Compression::Gzip { .. } => {
                flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut v).unwrap();
            }
            Compression::Xz { .. } => {
                xz2::read::XzDecoder::new(bytes).read_to_end(&mut v).unwrap();
            }
            Compression::Zstd { .. } => {
                zstd::stream::read::Decoder::new(bytes).unwrap().read_to_end(&mut v).unwrap();
            }
        }
        v
    }

    fn compressions() -> [Compression; 4] {
        [Compression::None, Compression::gzip(1).unwrap(), Compression::xz(0).unwrap(), Compression::zstd(3).unwrap()]
    }

    /// The zstd output is one frame per chunk, each saying its content size
    /// (the chunk's length) in its header.
    #[test]
    fn zstd_writes_one_frame_per_chunk() {
        let data = tar_like(3 * CHUNK_SIZE + 77);
        for level in [1, 3, 19] {
            let (_, bytes) = run(Compression::zstd(level).unwrap(), 3, DigestSet::LAYER, &data);
            let mut rest = &bytes[..];
            let mut sizes = Vec::new();
            while !rest.is_empty() {
                let n = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
                sizes.push(zstd::zstd_safe::get_frame_content_size(rest).unwrap());
                rest = &rest[n..];
            }
            let want = [CHUNK_SIZE as u64, CHUNK_SIZE as u64, CHUNK_SIZE as u64, 77];
            assert_eq!(sizes, want.map(Some), "level {level}");
        }
    }

    #[test]
    fn only_requested_digests_are_computed() {
        let data = tar_like(2 * CHUNK_SIZE + 5);
        let sets = [
            DigestSet::default(),
            DigestSet::ACI,
            DigestSet::LAYER,
            DigestSet { sha256_compressed: true, ..DigestSet::default() },
            DigestSet { sha512_tar: true, sha256_tar: true, sha256_compressed: true },
        ];
        for digests in sets {
            for c in compressions() {
                let (w, _) = run(c, 2, digests, &data);
                assert_eq!(w.tar_size, data.len() as u64);
                assert_eq!(w.sha512_tar.is_some(), digests.sha512_tar, "{c:?} {digests:?}");
                assert_eq!(w.sha256_tar.is_some(), digests.sha256_tar, "{c:?} {digests:?}");
                assert_eq!(w.sha256_compressed.is_some(), digests.sha256_compressed, "{c:?} {digests:?}");
            }
        }
    }

    #[test]
    fn digests_are_of_the_tar_and_of_the_bytes_written() {
        let all = DigestSet { sha512_tar: true, sha256_tar: true, sha256_compressed: true };
        for len in [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 1] {
            let data = tar_like(len);
            for c in compressions() {
                let (w, bytes) = run(c, 3, all, &data);
                assert!(decompress(c, &bytes) == data, "{c:?} {len}: round trip");
                assert_eq!(w.compressed_size, bytes.len() as u64, "{c:?} {len}");
                assert_eq!(w.sha512_tar, Some(sha2::Sha512::digest(&data).into()), "{c:?} {len}");
                assert_eq!(w.sha256_tar, Some(Sha256Digest(Sha256::digest(&data).into())), "{c:?} {len}");
                assert_eq!(w.sha256_compressed, Some(Sha256Digest(Sha256::digest(&bytes).into())), "{c:?} {len}");
            }
            // Uncompressed, the compressed digest alone is hashed on the way out.
            let only = DigestSet { sha256_compressed: true, ..DigestSet::default() };
            let (w, bytes) = run(Compression::None, 1, only, &data);
            assert_eq!(w.sha256_compressed, Some(Sha256Digest(Sha256::digest(&bytes).into())));
        }
    }

    #[test]
    fn bytes_and_digests_do_not_depend_on_threads() {
        let data = tar_like(5 * CHUNK_SIZE + 123);
        for c in compressions() {
            let first = run(c, 1, DigestSet::LAYER, &data);
            for threads in [2, 4, 7] {
                let other = run(c, threads, DigestSet::LAYER, &data);
                assert_eq!(first.0, other.0, "{c:?} {threads}");
                assert!(first.1 == other.1, "{c:?} {threads}: bytes differ");
            }
        }
    }

    #[test]
    fn bad_levels_cannot_be_made() {
        use super::super::{GzipLevel, LevelError, XzLevel, ZstdLevel};
        assert_eq!(GzipLevel::new(0), Err(LevelError::Gzip { level: 0 }));
        assert_eq!(GzipLevel::new(13), Err(LevelError::Gzip { level: 13 }));
        assert_eq!(XzLevel::new(10), Err(LevelError::Xz { level: 10 }));
        assert_eq!(XzLevel::new(u32::MAX), Err(LevelError::Xz { level: u32::MAX }));
        assert_eq!(ZstdLevel::new(0), Err(LevelError::Zstd { level: 0 }));
        assert_eq!(ZstdLevel::new(23), Err(LevelError::Zstd { level: 23 }));
        for l in ZstdLevel::RANGE {
            assert_eq!(ZstdLevel::new(l).unwrap().get(), l);
            // Every level we accept, libzstd accepts too.
            assert!(zstd::compression_level_range().contains(&(l as i32)), "{l}");
        }
        for l in GzipLevel::RANGE {
            assert_eq!(GzipLevel::new(l).unwrap().get(), l);
            // Every level we accept, libdeflate accepts too.
            assert!(libdeflater::CompressionLvl::new(l as i32).is_ok(), "{l}");
        }
        for l in XzLevel::RANGE {
            assert_eq!(XzLevel::new(l).unwrap().get(), l);
        }
    }

    /// A destination that fails after `left` bytes.
    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_failures_name_the_destination() {
        let data = tar_like(3 * CHUNK_SIZE);
        for c in compressions() {
            let mut out = Output::new(Failing { left: 1000 }, Path::new("/out/x"), c, 2, DigestSet::ACI).unwrap();
            let r = feed(&mut out, &data).and_then(|()| out.finish().map(|_| ()));
            match r {
                Err(ArchiveError::Write { path, .. }) => assert_eq!(path, Path::new("/out/x"), "{c:?}"),
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn sha256_digest_display() {
        let d = Sha256Digest::from_bytes([0xab; 32]);
        assert_eq!(d.to_string(), format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(d.as_bytes(), &[0xab; 32]);
    }
}
