//! Tar framing: what entries the archive holds, under which names, in which
//! order, with which headers. It writes into any `TarSink` and knows nothing
//! of compression, digests or files on the output side (the output stage,
//! [`super::output`], does).
//!
//! Two framings ([`Framing`]):
//! - [`Framing::Aci`]: an App Container Image
//!   (<https://github.com/appc/spec/blob/master/spec/aci.md>): the `manifest`
//!   file first (0644), then the `rootfs/` directory (0755), then the [`Plan`]
//!   entries under `rootfs/`.
//! - [`Framing::Layer`]: an OCI image layer
//!   (<https://github.com/opencontainers/image-spec/blob/main/layer.md>): the
//!   [`Plan`] entries at the top level (`bin/`, `nix/store/...`), with no
//!   manifest and no prefix.
//!
//! Either way: plan entries in plan order; a [`Node::HostTree`] expanded lazily,
//! depth-first, siblings in raw byte order, links never followed. Headers are
//! built by hand: ustar, mtime 1, empty user/group names, modes from one
//! rule, uid/gid 0 except where the plan gives a [`Node::Dir`] or
//! [`Node::File`] another [`Owner`] (never inside a store path: host trees
//! and link forests are root's). Names or link targets over 100 bytes and sizes of 8 GiB or more
//! get a per-file PAX header, never a global one. The archive ends with two
//! zero blocks.
//!
//! A [`Node::VerifiedTree`] is written like a host tree and, during the same
//! walk, serialised into a [`NarHasher`] (the NAR's entry order is the tar's);
//! when the tree ends, its NAR hash must be the one the plan expects.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{ArchiveError, ForeignElf};
use crate::image::plan::{mode, FileSource, Node, Owner, Plan};
use crate::nix::nar::NarHasher;

/// The fixed mtime of every entry: 1, as in the Nix store.
const MTIME: u64 = 1;
/// Largest size the 11 octal digits of a ustar header hold; above it the size
/// goes into a PAX record.
const USTAR_MAX_SIZE: u64 = 0o77777777777;
/// The name of PAX extension headers. Readers consume these headers and never
/// show their names; a fixed name keeps the bytes deterministic.
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// What surrounds the plan entries in the tar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing<'a> {
    /// An ACI: `manifest` (these bytes), `rootfs/`, then the plan under
    /// `rootfs/`.
    Aci { manifest: &'a [u8] },
    /// An OCI layer: the plan entries at the top level, nothing else.
    Layer,
}

/// Where the framing puts the tar stream: a byte sink that can also take a
/// file's contents directly (so an output stage can read into its own buffer).
pub(super) trait TarSink {
    /// Appends bytes to the tar stream.
    fn write(&mut self, data: &[u8]) -> Result<(), ArchiveError>;

    /// Appends up to `len` bytes read from `r`, showing each piece to `tap`
    /// as it is appended. Returns how many bytes were read: fewer than `len`
    /// only at end of file.
    fn copy_from<R: Read>(&mut self, r: &mut R, len: u64, tap: &mut dyn FnMut(&[u8])) -> Result<u64, CopyError>;

    /// Appends `n` zero bytes.
    fn zeros(&mut self, n: usize) -> Result<(), ArchiveError> {
        const Z: [u8; 1024] = [0; 1024];
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len());
            self.write(&Z[..k])?;
            left -= k;
        }
        Ok(())
    }
}

/// Why [`TarSink::copy_from`] stopped: the source could not be read, or the
/// sink failed.
#[derive(Debug)]
pub(super) enum CopyError {
    Read(std::io::Error),
    Sink(ArchiveError),
}

/// An in-memory sink, for tests and small archives.
impl TarSink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        self.extend_from_slice(data);
        Ok(())
    }

    fn copy_from<R: Read>(&mut self, r: &mut R, len: u64, tap: &mut dyn FnMut(&[u8])) -> Result<u64, CopyError> {
        let before = self.len();
        r.take(len).read_to_end(self).map_err(CopyError::Read)?;
        tap(&self[before..]);
        Ok((self.len() - before) as u64)
    }
}

/// Writes the whole tar (the framing's own entries, the plan, the
/// end-of-archive blocks) and returns the number of entries, not counting PAX
/// extension headers.
pub(super) fn write_tar<S: TarSink>(
    sink: &mut S,
    framing: Framing<'_>,
    plan: &Plan,
    machine: Option<u16>,
) -> Result<(u64, ForeignElf), ArchiveError> {
    let mut w =
        TarWriter { sink, entries: 0, nar: None, reported: 0, machine, foreign: ForeignElf::default(), prefix_len: 0 };
    let prefix: &[u8] = match framing {
        Framing::Aci { manifest } => {
            w.header(b"manifest", Kind::File { size: manifest.len() as u64 }, 0o644, Owner::ROOT)?;
            w.sink.write(manifest)?;
            w.pad(manifest.len() as u64)?;
            w.header(b"rootfs/", Kind::Dir, mode::DIR, Owner::ROOT)?;
            b"rootfs/"
        }
        Framing::Layer => b"",
    };
    w.prefix_len = prefix.len();
    let mut name = Vec::with_capacity(4096);
    for e in &plan.entries {
        name.clear();
        name.extend_from_slice(prefix);
        name.extend_from_slice(e.path.as_bytes());
        match &e.node {
            Node::Dir { mode, owner } => {
                name.push(b'/');
                w.header(&name, Kind::Dir, *mode, *owner)?;
            }
            Node::File { mode, owner, source: FileSource::Inline(bytes) } => {
                w.header(&name, Kind::File { size: bytes.len() as u64 }, *mode, *owner)?;
                w.sink.write(bytes)?;
                w.pad(bytes.len() as u64)?;
            }
            Node::File { mode, owner, source: FileSource::Host { path, size } } => {
                w.host_file(&name, path, *size, *mode, *owner, None)?;
            }
            Node::Symlink { target } => w.header(&name, Kind::Symlink { target }, mode::SYMLINK, Owner::ROOT)?,
            Node::HostTree { source } => {
                w.start_nar(NarHasher::counting());
                w.tree(&mut name, &mut source.clone())?;
                w.sync_progress();
                w.nar = None;
            }
            Node::LinkForest { source, link_base } => {
                w.link_forest(&mut name, &mut source.clone(), &mut link_base.clone())?
            }
            Node::VerifiedTree { source, nar_hash } => {
                w.start_nar(NarHasher::new());
                w.tree(&mut name, &mut source.clone())?;
                w.sync_progress();
                let actual = w.nar.take().and_then(NarHasher::finish).expect("a hashing NarHasher, set above");
                if actual != *nar_hash {
                    return Err(ArchiveError::NarHashMismatch { path: source.clone(), expected: *nar_hash, actual });
                }
            }
        }
    }
    // End of archive: two zero blocks. No padding to a 10 KiB record: nothing
    // requires it and every byte is part of the digests.
    w.sink.zeros(1024)?;
    Ok((w.entries, w.foreign))
}

enum Kind<'a> {
    Dir,
    File { size: u64 },
    Symlink { target: &'a [u8] },
}

struct TarWriter<'s, S> {
    sink: &'s mut S,
    entries: u64,
    /// The NAR serialisation of the store path being written: hashed when
    /// it is verified, counted otherwise (for [`super::progress`]).
    nar: Option<NarHasher>,
    /// NAR bytes of `nar` already added to the progress counter.
    reported: u64,
    /// The image's ELF machine, and the files for another one seen so far.
    machine: Option<u16>,
    foreign: ForeignElf,
    /// Bytes of the framing's prefix (`rootfs/`) before each name.
    prefix_len: usize,
}

impl<S: TarSink> TarWriter<'_, S> {
    fn start_nar(&mut self, h: NarHasher) {
        self.reported = 0;
        self.nar = Some(h);
        self.sync_progress();
    }

    /// Adds the NAR bytes serialised since the last call to the progress
    /// counter.
    fn sync_progress(&mut self) {
        if let Some(h) = &self.nar {
            super::PROGRESS_STORE_BYTES.fetch_add(h.size() - self.reported, std::sync::atomic::Ordering::Relaxed);
            self.reported = h.size();
        }
    }

    /// One entry's header: a PAX header first when the name does not fit the
    /// ustar fields (name, or prefix and name: see [`ustar_split`]), the link
    /// target does not fit its 100 bytes, or the size needs more than 11 octal
    /// digits.
    fn header(&mut self, name: &[u8], kind: Kind<'_>, mode: u32, owner: Owner) -> Result<(), ArchiveError> {
        let (ty, size, target): (EntryType, u64, &[u8]) = match kind {
            Kind::Dir => (EntryType::Directory, 0, b""),
            Kind::File { size } => (EntryType::Regular, size, b""),
            Kind::Symlink { target } => (EntryType::Symlink, 0, target),
        };
        let mut pax = Vec::new();
        let binary = std::str::from_utf8(name).is_err() || std::str::from_utf8(target).is_err();
        let split = ustar_split(name);
        if split.is_none() || target.len() > 100 || size > USTAR_MAX_SIZE {
            if binary {
                // POSIX: path values are UTF-8 unless hdrcharset says otherwise.
                pax_record(&mut pax, b"hdrcharset", b"BINARY");
            }
            if target.len() > 100 {
                pax_record(&mut pax, b"linkpath", target);
            }
            if split.is_none() {
                pax_record(&mut pax, b"path", name);
            }
            if size > USTAR_MAX_SIZE {
                pax_record(&mut pax, b"size", size.to_string().as_bytes());
            }
        }
        if !pax.is_empty() {
            let h = ustar(PAX_HEADER_NAME, Some(0), EntryType::XHeader, 0o644, Owner::ROOT, pax.len() as u64, b"");
            self.sink.write(h.as_bytes())?;
            self.sink.write(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let h = ustar(name, split, ty, mode, owner, size, target);
        self.sink.write(h.as_bytes())?;
        self.entries += 1;
        super::PROGRESS_ENTRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<(), ArchiveError> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.sink.zeros(512 - rem)?;
        }
        Ok(())
    }

    /// A host file streamed into the archive; its size must still be `planned`.
    /// `nar_exec`: the file is in a verified tree and executable by its owner
    /// (what a NAR records); `None` outside a verified tree.
    fn host_file(
        &mut self,
        name: &[u8],
        path: &Path,
        planned: u64,
        mode: u32,
        owner: Owner,
        nar_exec: Option<bool>,
    ) -> Result<(), ArchiveError> {
        let read_err = |source| ArchiveError::Read { path: path.to_path_buf(), source };
        let mut f = File::open(path).map_err(read_err)?;
        self.header(name, Kind::File { size: planned }, mode, owner)?;
        let mut nar = match nar_exec {
            Some(exec) => {
                let h = self.nar.as_mut();
                if let Some(h) = h {
                    h.file_begin(exec, planned);
                    Some(h)
                } else {
                    None
                }
            }
            None => None,
        };
        let reported = &mut self.reported;
        // The first bytes, for the ELF machine: the file is read once.
        let mut head = [0u8; 20];
        let mut head_len = 0;
        let mut tap = |data: &[u8]| {
            if head_len < head.len() {
                let n = data.len().min(head.len() - head_len);
                head[head_len..head_len + n].copy_from_slice(&data[..n]);
                head_len += n;
            }
            if let Some(h) = nar.as_mut() {
                h.file_data(data);
                super::PROGRESS_STORE_BYTES.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                *reported += data.len() as u64;
            }
        };
        let n = self.sink.copy_from(&mut f, planned, &mut tap).map_err(|e| match e {
            CopyError::Read(source) => ArchiveError::Read { path: path.to_path_buf(), source },
            CopyError::Sink(e) => e,
        })?;
        let grew = n == planned && {
            let mut one = [0u8; 1];
            loop {
                match f.read(&mut one) {
                    Ok(k) => break k > 0,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_err(e)),
                }
            }
        };
        if n < planned || grew {
            let actual = f.metadata().map(|m| m.len()).unwrap_or(n);
            return Err(ArchiveError::SizeChanged { path: path.to_path_buf(), planned, actual });
        }
        if let Some(h) = nar {
            h.file_end();
        }
        if let Some(machine) = self.machine {
            self.foreign.see(machine, &name[self.prefix_len.min(name.len())..], &head[..head_len]);
        }
        self.pad(planned)
    }

    /// A package's directory as the merge makes it (see
    /// [`Node::LinkForest`]): directories of mode [`mode::DIR`], and a link to
    /// `link/<path>` for anything else.
    fn link_forest(&mut self, name: &mut Vec<u8>, src: &mut PathBuf, link: &mut Vec<u8>) -> Result<(), ArchiveError> {
        name.push(b'/');
        self.header(name, Kind::Dir, mode::DIR, Owner::ROOT)?;
        name.pop();
        let mut children: Vec<std::ffi::OsString> = std::fs::read_dir(&*src)
            .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
        children.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for child in children {
            let (len, link_len) = (name.len(), link.len());
            name.push(b'/');
            name.extend_from_slice(child.as_bytes());
            link.push(b'/');
            link.extend_from_slice(child.as_bytes());
            src.push(&child);
            let r = match std::fs::symlink_metadata(&*src) {
                Err(source) => Err(ArchiveError::Read { path: src.clone(), source }),
                Ok(m) if m.is_dir() => self.link_forest(name, src, link),
                Ok(_) => self.header(name, Kind::Symlink { target: link }, mode::SYMLINK, Owner::ROOT),
            };
            src.pop();
            name.truncate(len);
            link.truncate(link_len);
            r?;
        }
        Ok(())
    }

    /// A host tree, copied faithfully: depth-first, siblings in raw byte order,
    /// symlinks stored as symlinks (never followed, dangling ones too), store
    /// modes. Hard links in the source are written as separate regular files:
    /// a NAR has no hard links, and the links the store optimiser makes are
    /// machine-local, so emitting tar hard links would make the same closure
    /// give different images on different machines.
    fn tree(&mut self, name: &mut Vec<u8>, src: &mut PathBuf) -> Result<(), ArchiveError> {
        let meta =
            std::fs::symlink_metadata(&*src).map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
        let ft = meta.file_type();
        if ft.is_dir() {
            name.push(b'/');
            self.header(name, Kind::Dir, mode::STORE_DIR, Owner::ROOT)?;
            name.pop();
            if let Some(h) = &mut self.nar {
                h.dir_begin();
            }
            let mut children: Vec<std::ffi::OsString> = std::fs::read_dir(&*src)
                .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
            children.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for child in children {
                if let Some(h) = &mut self.nar {
                    h.entry_begin(child.as_bytes());
                }
                let len = name.len();
                name.push(b'/');
                name.extend_from_slice(child.as_bytes());
                src.push(&child);
                let r = self.tree(name, src);
                src.pop();
                name.truncate(len);
                r?;
                if let Some(h) = &mut self.nar {
                    h.entry_end();
                }
                self.sync_progress();
            }
            if let Some(h) = &mut self.nar {
                h.dir_end();
            }
            Ok(())
        } else if ft.is_file() {
            let perm = meta.permissions().mode();
            let m = if perm & 0o111 != 0 { mode::STORE_EXEC } else { mode::STORE_FILE };
            let nar_exec = self.nar.is_some().then_some(perm & 0o100 != 0);
            self.host_file(name, src, meta.len(), m, Owner::ROOT, nar_exec)
        } else if ft.is_symlink() {
            let target =
                std::fs::read_link(&*src).map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
            if let Some(h) = &mut self.nar {
                h.symlink(target.as_os_str().as_bytes());
            }
            self.header(name, Kind::Symlink { target: target.as_os_str().as_bytes() }, mode::SYMLINK, Owner::ROOT)
        } else {
            let kind = if ft.is_fifo() {
                "named pipe"
            } else if ft.is_socket() {
                "socket"
            } else if ft.is_char_device() {
                "character device"
            } else if ft.is_block_device() {
                "block device"
            } else {
                "file of unknown type"
            };
            Err(ArchiveError::UnsupportedFileType { path: src.clone(), kind })
        }
    }
}

/// Where a name goes in a ustar header: `Some(0)` for a name that fits the
/// 100-byte name field as it is; `Some(i)` for a longer one that splits at
/// the `/` at byte `i` into the 155-byte prefix field (before it) and the
/// name field (after it), the leftmost such `/` (as GNU tar splits); `None`
/// when neither fits, and a PAX `path` record carries the name.
///
/// The split saves a PAX header (two 512-byte blocks) per entry between 101
/// and 256 bytes long, which store paths' deep trees have by the thousand:
/// every reader we target (GNU tar, Go's archive/tar in rkt and actool, the
/// Rust tar crate) joins prefix and name.
pub(super) fn ustar_split(name: &[u8]) -> Option<usize> {
    if name.len() <= 100 {
        return Some(0);
    }
    (name.len() - 101..name.len().min(156))
        .find(|&i| name[i] == b'/' && i > 0 && i + 1 < name.len() && name[i + 1] != b'/')
}

/// A ustar header with our fixed fields, the name placed as [`ustar_split`]
/// says (`None`: cut at 100 bytes, the PAX record before the header carries
/// the full name).
fn ustar(
    name: &[u8],
    split: Option<usize>,
    ty: EntryType,
    mode: u32,
    owner: Owner,
    size: u64,
    target: &[u8],
) -> Header {
    let mut h = Header::new_ustar();
    {
        let (prefix, rest) = match split {
            Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
            _ => (&b""[..], name),
        };
        let old = h.as_old_mut();
        let n = rest.len().min(100);
        old.name[..n].copy_from_slice(&rest[..n]);
        let t = target.len().min(100);
        old.linkname[..t].copy_from_slice(&target[..t]);
        if let Some(u) = h.as_ustar_mut() {
            u.prefix[..prefix.len()].copy_from_slice(prefix);
        }
    }
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_uid(owner.uid.into());
    h.set_gid(owner.gid.into());
    // Above USTAR_MAX_SIZE the tar crate writes base-256, which GNU tar and Go
    // read too; the PAX size record is authoritative anyway.
    h.set_size(size);
    h.set_mtime(MTIME);
    if let Some(u) = h.as_ustar_mut() {
        // Device numbers as GNU tar writes them for ustar, so the header is
        // fully specified.
        u.dev_major = *b"0000000\0";
        u.dev_minor = *b"0000000\0";
    }
    h.set_cksum();
    h
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where len counts the
/// whole record including its own digits.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::plan::{Entry, ImagePath};

    fn names(tar: &[u8]) -> Vec<Vec<u8>> {
        let mut ar = tar::Archive::new(tar);
        ar.entries().unwrap().map(|e| e.unwrap().path_bytes().into_owned()).collect()
    }

    fn plan(tree: &Path) -> Plan {
        let ip = |s: &str| ImagePath::new(s).unwrap();
        let inline =
            |b: &[u8]| Node::File { mode: mode::ETC_FILE, owner: Owner::ROOT, source: FileSource::Inline(b.to_vec()) };
        Plan {
            entries: vec![
                Entry { path: ip("bin"), node: Node::Symlink { target: b"nix/store/t/bin".to_vec() } },
                Entry { path: ip("etc"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
                Entry { path: ip("etc/hosts"), node: inline(b"127.0.0.1 localhost\n") },
                Entry { path: ip("nix"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
                Entry { path: ip("nix/store"), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
                Entry { path: ip("nix/store/t"), node: Node::HostTree { source: tree.to_path_buf() } },
            ],
        }
    }

    #[test]
    fn aci_and_layer_frame_the_same_entries_under_different_prefixes() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("t");
        std::fs::create_dir_all(tree.join("bin")).unwrap();
        std::fs::write(tree.join("bin/x"), b"#!/bin/sh\n").unwrap();
        std::fs::write(tree.join("n".repeat(120)), b"long").unwrap();
        let plan = plan(&tree);
        let (mut aci, mut layer) = (Vec::new(), Vec::new());
        let (n_aci, _) = write_tar(&mut aci, Framing::Aci { manifest: b"{}" }, &plan, None).unwrap();
        let (n_layer, _) = write_tar(&mut layer, Framing::Layer, &plan, None).unwrap();
        let long = format!("nix/store/t/{}", "n".repeat(120));
        let want: Vec<&[u8]> = vec![
            b"bin",
            b"etc/",
            b"etc/hosts",
            b"nix/",
            b"nix/store/",
            b"nix/store/t/",
            b"nix/store/t/bin/",
            b"nix/store/t/bin/x",
            long.as_bytes(),
        ];
        assert_eq!(names(&layer), want);
        assert_eq!(n_layer, want.len() as u64);
        let mut want_aci: Vec<Vec<u8>> = vec![b"manifest".to_vec(), b"rootfs/".to_vec()];
        want_aci.extend(want.iter().map(|n| [&b"rootfs/"[..], n].concat()));
        assert_eq!(names(&aci), want_aci);
        assert_eq!(n_aci, n_layer + 2);
        // Blocks of 512 bytes, two zero blocks at the end.
        for tar in [&aci, &layer] {
            assert_eq!(tar.len() % 512, 0);
            assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn foreign_elf_files_are_counted_while_read() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("t");
        std::fs::create_dir_all(tree.join("bin")).unwrap();
        let elf = |machine: u16| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            h[4] = 2;
            h[5] = 1;
            h[18..20].copy_from_slice(&machine.to_le_bytes());
            h
        };
        std::fs::write(tree.join("bin/x"), b"#!/bin/sh\n").unwrap();
        std::fs::write(tree.join("bin/amd64"), elf(62)).unwrap();
        std::fs::write(tree.join("bin/arm64"), elf(183)).unwrap();
        std::fs::write(tree.join("bin/arm64b"), elf(183)).unwrap();
        std::fs::write(tree.join("bin/tiny"), b"\x7fE").unwrap();
        let mut v = Vec::new();
        let (_, foreign) = write_tar(&mut v, Framing::Layer, &plan(&tree), Some(62)).unwrap();
        assert_eq!(foreign.count, 2);
        assert_eq!(foreign.example, Some(("nix/store/t/bin/arm64".into(), 183)));
        let (_, none) = write_tar(&mut Vec::new(), Framing::Layer, &plan(&tree), None).unwrap();
        assert_eq!(none, ForeignElf::default());
    }

    #[test]
    fn layer_of_an_empty_plan_is_the_end_blocks() {
        let mut v = Vec::new();
        assert_eq!(write_tar(&mut v, Framing::Layer, &Plan::default(), None).unwrap().0, 0);
        assert_eq!(v, vec![0u8; 1024]);
    }

    #[test]
    fn pax_record_lengths() {
        let mut v = Vec::new();
        pax_record(&mut v, b"path", b"abc");
        assert_eq!(v, b"12 path=abc\n");
        // The length counts its own digits, also across a digit-count boundary.
        for n in 80..1100 {
            v.clear();
            pax_record(&mut v, b"path", &vec![b'x'; n]);
            let sp = v.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&v[..sp]).unwrap().parse().unwrap();
            assert_eq!(len, v.len(), "value length {n}");
        }
    }

    #[test]
    fn ustar_header_fields() {
        let h = ustar(b"rootfs/a", Some(0), EntryType::Regular, 0o444, Owner::ROOT, 5, b"");
        assert_eq!(h.mtime().unwrap(), 1);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.mode().unwrap(), 0o444);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        let big = ustar(b"rootfs/big", Some(0), EntryType::Regular, 0o444, Owner::ROOT, (8 << 30) + 1, b"");
        let owned = ustar(b"rootfs/d/", Some(0), EntryType::Directory, 0o750, Owner { uid: 1000, gid: 100 }, 0, b"");
        assert_eq!((owned.uid().unwrap(), owned.gid().unwrap(), owned.mode().unwrap()), (1000, 100, 0o750));
        assert_eq!(owned.username_bytes(), Some(&b""[..]));
        assert_eq!(big.size().unwrap(), (8 << 30) + 1);
    }

    #[test]
    fn long_names_split_into_the_ustar_prefix() {
        let short = b"rootfs/a/b".to_vec();
        assert_eq!(ustar_split(&short), Some(0));
        let dir = format!("rootfs/nix/store/{}-x/", "a".repeat(32));
        let long = format!("{dir}{}/{}", "d".repeat(60), "f".repeat(50)); // 156 bytes
        let i = ustar_split(long.as_bytes()).expect("fits prefix + name");
        assert!(i <= 155 && long.len() - i - 1 <= 100 && long.as_bytes()[i] == b'/');
        let h = ustar(long.as_bytes(), Some(i), EntryType::Regular, 0o444, Owner::ROOT, 0, b"");
        assert_eq!(h.path_bytes().as_ref(), long.as_bytes(), "readers join prefix and name");
        // A trailing slash never becomes an empty name.
        let d = format!("{}/{}/", "p".repeat(150), "n".repeat(99));
        let i = ustar_split(d.as_bytes()).expect("fits");
        assert_eq!(&d.as_bytes()[i + 1..], format!("{}/", "n".repeat(99)).as_bytes());
        // Too long for either field, or no '/' at a usable place: PAX.
        assert_eq!(ustar_split(&[b'x'; 101]), None);
        assert_eq!(ustar_split(format!("{}/{}", "p".repeat(156), "n".repeat(10)).as_bytes()), None);
        assert_eq!(ustar_split(format!("{}/{}", "p".repeat(10), "n".repeat(101)).as_bytes()), None);
    }
}
