//! Where the tar bytes go: a chunk buffer that hashes every byte (the image ID)
//! and hands full [`CHUNK_SIZE`] chunks to the compressor.
//!
//! Chunk boundaries depend only on offsets in the tar stream, so the output is
//! the same whatever the reads, the thread count or the scheduling.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha512};

use super::{ArchiveError, Compression, CHUNK_SIZE};

pub(super) struct Finished {
    pub digest: [u8; 64],
    pub tar_size: u64,
    pub compressed_size: u64,
}

/// The hashing, chunking front of the pipeline. The thread that builds the tar
/// owns it and also writes the output file, in order.
pub(super) struct Sink {
    buf: Vec<u8>,
    fill: usize,
    hasher: Sha512,
    total: u64,
    backend: Backend,
}

enum Backend {
    Plain { file: File, path: PathBuf, written: u64 },
    Xz { enc: xz2::write::XzEncoder<Counting>, path: PathBuf },
    Gzip(GzipPool),
}

impl Sink {
    pub fn new(file: File, path: &Path, compression: Compression, threads: usize) -> Result<Sink, ArchiveError> {
        let backend = match compression {
            Compression::None => Backend::Plain { file, path: path.to_path_buf(), written: 0 },
            Compression::Xz { level } => {
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
                    .map_err(|e| ArchiveError::XzInit { level, threads, message: e.to_string() })?;
                let counting = Counting { file, written: 0 };
                Backend::Xz { enc: xz2::write::XzEncoder::new_stream(counting, stream), path: path.to_path_buf() }
            }
            Compression::Gzip { level } => Backend::Gzip(GzipPool::new(file, path, level, threads)?),
        };
        Ok(Sink { buf: vec![0; CHUNK_SIZE], fill: 0, hasher: Sha512::new(), total: 0, backend })
    }

    /// Appends bytes to the tar stream.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        while !data.is_empty() {
            let n = data.len().min(CHUNK_SIZE - self.fill);
            self.buf[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == CHUNK_SIZE {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> Result<(), ArchiveError> {
        const Z: [u8; 1024] = [0; 1024];
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len());
            self.write(&Z[..k])?;
            left -= k;
        }
        Ok(())
    }

    /// Reads up to `len` bytes from `r` straight into the chunk buffer (no extra
    /// copy, large sequential reads). Returns how many bytes were read: fewer
    /// than `len` only at end of file.
    pub fn copy_from(&mut self, r: &mut impl Read, len: u64) -> Result<u64, CopyError> {
        let mut done = 0u64;
        while done < len {
            let want = ((len - done).min((CHUNK_SIZE - self.fill) as u64)) as usize;
            let n = match r.read(&mut self.buf[self.fill..self.fill + want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyError::Read(e)),
            };
            self.fill += n;
            done += n as u64;
            if self.fill == CHUNK_SIZE {
                self.flush_chunk().map_err(CopyError::Sink)?;
            }
        }
        Ok(done)
    }

    fn flush_chunk(&mut self) -> Result<(), ArchiveError> {
        let chunk = &self.buf[..self.fill];
        self.hasher.update(chunk);
        self.total += chunk.len() as u64;
        match &mut self.backend {
            Backend::Plain { file, path, written } => {
                file.write_all(chunk).map_err(|source| ArchiveError::Write { path: path.clone(), source })?;
                *written += chunk.len() as u64;
            }
            Backend::Xz { enc, path } => {
                enc.write_all(chunk).map_err(|source| ArchiveError::Write { path: path.clone(), source })?;
            }
            Backend::Gzip(pool) => {
                let next = pool.take_buffer();
                let full = std::mem::replace(&mut self.buf, next);
                pool.submit(full, self.fill)?;
            }
        }
        self.fill = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<Finished, ArchiveError> {
        if self.fill > 0 {
            self.flush_chunk()?;
        }
        let compressed_size = match self.backend {
            Backend::Plain { written, .. } => written,
            Backend::Xz { enc, path } => {
                let c = enc.finish().map_err(|source| ArchiveError::Write { path, source })?;
                c.written
            }
            Backend::Gzip(pool) => pool.finish()?,
        };
        Ok(Finished { digest: self.hasher.finalize().into(), tar_size: self.total, compressed_size })
    }
}

/// Why [`Sink::copy_from`] stopped: the source could not be read, or the output
/// failed.
pub(super) enum CopyError {
    Read(std::io::Error),
    Sink(ArchiveError),
}

/// Block size of the xz encoder: 3 x the preset's dictionary, at least 1 MiB
/// (liblzma's rule for its default, fixed here).
fn xz_block_size(level: u32) -> u64 {
    const DICT: [u64; 10] =
        [256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20];
    (3 * DICT[level as usize]).max(1 << 20)
}

struct Counting {
    file: File,
    written: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Chunks in flight (queued, compressing, or compressed and waiting for their
/// turn) per worker thread.
const MAX_IN_FLIGHT_PER_THREAD: usize = 4;

struct Job {
    seq: u64,
    data: Vec<u8>,
    len: usize,
}

struct Done {
    seq: u64,
    gz: Result<Vec<u8>, ()>,
    input: Vec<u8>,
}

/// Compresses chunks into independent gzip members on `threads` workers
/// (libdeflate, no file name, mtime 0) and writes them in sequence order.
/// At most `max_in_flight` (4 x threads + 4) chunks exist at once, so memory
/// is bounded by chunk size x threads whatever the closure size (with 2
/// threads, at most 12 MiB of input and 12 MiB of output chunks; measured peak
/// RSS 32 MiB for a 185 MB tree, 26 MiB for 1.4 GB).
struct GzipPool {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    file: File,
    path: PathBuf,
    next_seq: u64,
    next_write: u64,
    in_flight: usize,
    max_in_flight: usize,
    pending: BTreeMap<u64, Vec<u8>>,
    free: Vec<Vec<u8>>,
    written: u64,
}

impl GzipPool {
    fn new(file: File, path: &Path, level: u32, threads: usize) -> Result<GzipPool, ArchiveError> {
        let threads = threads.max(1);
        let lvl =
            libdeflater::CompressionLvl::new(level as i32).map_err(|_| ArchiveError::InvalidGzipLevel { level })?;
        // Queue depth: enough chunks ahead that the workers keep busy while the
        // tar thread waits to be scheduled (a shared machine wakes threads late),
        // small enough to bound memory: at most MAX_IN_FLIGHT_PER_THREAD x
        // threads (+ 4) chunks of input and as many compressed ones.
        let max_in_flight = MAX_IN_FLIGHT_PER_THREAD * threads + 4;
        let (job_tx, job_rx) = sync_channel::<Job>(max_in_flight);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx): (Sender<Done>, Receiver<Done>) = channel();
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&job_rx);
                let tx = done_tx.clone();
                std::thread::spawn(move || worker(lvl, rx, tx))
            })
            .collect();
        Ok(GzipPool {
            jobs: Some(job_tx),
            results: done_rx,
            workers,
            file,
            path: path.to_path_buf(),
            next_seq: 0,
            next_write: 0,
            in_flight: 0,
            max_in_flight,
            pending: BTreeMap::new(),
            free: Vec::new(),
            written: 0,
        })
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; CHUNK_SIZE])
    }

    fn submit(&mut self, data: Vec<u8>, len: usize) -> Result<(), ArchiveError> {
        while self.in_flight >= self.max_in_flight {
            let done = self.results.recv().map_err(|_| ArchiveError::WorkerFailed)?;
            self.accept(done)?;
        }
        let job = Job { seq: self.next_seq, data, len };
        self.next_seq += 1;
        self.in_flight += 1;
        self.jobs.as_ref().expect("submit after finish").send(job).map_err(|_| ArchiveError::WorkerFailed)?;
        while let Ok(done) = self.results.try_recv() {
            self.accept(done)?;
        }
        Ok(())
    }

    fn accept(&mut self, done: Done) -> Result<(), ArchiveError> {
        self.in_flight -= 1;
        self.free.push(done.input);
        let gz = done.gz.map_err(|()| ArchiveError::WorkerFailed)?;
        self.pending.insert(done.seq, gz);
        while let Some(gz) = self.pending.remove(&self.next_write) {
            self.file.write_all(&gz).map_err(|source| ArchiveError::Write { path: self.path.clone(), source })?;
            self.written += gz.len() as u64;
            self.next_write += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64, ArchiveError> {
        self.jobs = None;
        while self.in_flight > 0 {
            let done = self.results.recv().map_err(|_| ArchiveError::WorkerFailed)?;
            self.accept(done)?;
        }
        for w in std::mem::take(&mut self.workers) {
            w.join().map_err(|_| ArchiveError::WorkerFailed)?;
        }
        Ok(self.written)
    }
}

fn worker(lvl: libdeflater::CompressionLvl, jobs: Arc<Mutex<Receiver<Job>>>, done: Sender<Done>) {
    let mut c = libdeflater::Compressor::new(lvl);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let input = &job.data[..job.len];
        let mut out = vec![0; c.gzip_compress_bound(input.len())];
        let gz = match c.gzip_compress(input, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(_) => Err(()),
        };
        if done.send(Done { seq: job.seq, gz, input: job.data }).is_err() {
            return;
        }
    }
}
