//! Tar framing: explicit ustar headers, per-file PAX headers when needed, and the
//! lazy, sorted, link-preserving walk of host trees.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::sink::{CopyError, Sink};
use super::ArchiveError;
use crate::plan::{mode, FileSource, Node, Plan};

/// The fixed mtime of every entry: 1, as in the Nix store.
const MTIME: u64 = 1;
/// Largest size the 11 octal digits of a ustar header hold; above it the size
/// goes into a PAX record.
const USTAR_MAX_SIZE: u64 = 0o77777777777;
/// The name of PAX extension headers. Readers consume these headers and never
/// show their names; a fixed name keeps the bytes deterministic.
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// Writes the whole tar (manifest, rootfs, plan, end-of-archive blocks) and
/// returns the number of entries.
pub(super) fn write_tar(sink: &mut Sink, manifest_json: &[u8], plan: &Plan) -> Result<u64, ArchiveError> {
    let mut w = TarWriter { sink, entries: 0 };
    w.header(b"manifest", Kind::File { size: manifest_json.len() as u64 }, 0o644)?;
    w.sink.write(manifest_json)?;
    w.pad(manifest_json.len() as u64)?;
    w.header(b"rootfs/", Kind::Dir, mode::DIR)?;
    let mut name = Vec::with_capacity(4096);
    for e in &plan.entries {
        name.clear();
        name.extend_from_slice(b"rootfs/");
        name.extend_from_slice(e.path.as_bytes());
        match &e.node {
            Node::Dir { mode } => {
                name.push(b'/');
                w.header(&name, Kind::Dir, *mode)?;
            }
            Node::File { mode, source: FileSource::Inline(bytes) } => {
                w.header(&name, Kind::File { size: bytes.len() as u64 }, *mode)?;
                w.sink.write(bytes)?;
                w.pad(bytes.len() as u64)?;
            }
            Node::File { mode, source: FileSource::Host { path, size } } => {
                w.host_file(&name, path, *size, *mode)?;
            }
            Node::Symlink { target } => w.header(&name, Kind::Symlink { target }, mode::SYMLINK)?,
            Node::HostTree { source } => w.tree(&mut name, &mut source.clone())?,
        }
    }
    // End of archive: two zero blocks. No padding to a 10 KiB record: nothing
    // requires it and every byte is part of the image ID.
    w.sink.zeros(1024)?;
    Ok(w.entries)
}

enum Kind<'a> {
    Dir,
    File { size: u64 },
    Symlink { target: &'a [u8] },
}

struct TarWriter<'s> {
    sink: &'s mut Sink,
    entries: u64,
}

impl TarWriter<'_> {
    /// One entry's header: a PAX header first when the name or link target does
    /// not fit the ustar fields (100 bytes; we never split into the prefix field)
    /// or the size needs more than 11 octal digits.
    fn header(&mut self, name: &[u8], kind: Kind<'_>, mode: u32) -> Result<(), ArchiveError> {
        let (ty, size, target): (EntryType, u64, &[u8]) = match kind {
            Kind::Dir => (EntryType::Directory, 0, b""),
            Kind::File { size } => (EntryType::Regular, size, b""),
            Kind::Symlink { target } => (EntryType::Symlink, 0, target),
        };
        let mut pax = Vec::new();
        let binary = std::str::from_utf8(name).is_err() || std::str::from_utf8(target).is_err();
        if name.len() > 100 || target.len() > 100 || size > USTAR_MAX_SIZE {
            if binary {
                // POSIX: path values are UTF-8 unless hdrcharset says otherwise.
                pax_record(&mut pax, b"hdrcharset", b"BINARY");
            }
            if target.len() > 100 {
                pax_record(&mut pax, b"linkpath", target);
            }
            if name.len() > 100 {
                pax_record(&mut pax, b"path", name);
            }
            if size > USTAR_MAX_SIZE {
                pax_record(&mut pax, b"size", size.to_string().as_bytes());
            }
        }
        if !pax.is_empty() {
            let h = ustar(PAX_HEADER_NAME, EntryType::XHeader, 0o644, pax.len() as u64, b"");
            self.sink.write(h.as_bytes())?;
            self.sink.write(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let h = ustar(name, ty, mode, size, target);
        self.sink.write(h.as_bytes())?;
        self.entries += 1;
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
    fn host_file(&mut self, name: &[u8], path: &Path, planned: u64, mode: u32) -> Result<(), ArchiveError> {
        let read_err = |source| ArchiveError::Read { path: path.to_path_buf(), source };
        let mut f = File::open(path).map_err(read_err)?;
        self.header(name, Kind::File { size: planned }, mode)?;
        let n = self.sink.copy_from(&mut f, planned).map_err(|e| match e {
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
        self.pad(planned)
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
            self.header(name, Kind::Dir, mode::STORE_DIR)?;
            name.pop();
            let mut children: Vec<std::ffi::OsString> = std::fs::read_dir(&*src)
                .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
            children.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for child in children {
                let len = name.len();
                name.push(b'/');
                name.extend_from_slice(child.as_bytes());
                src.push(&child);
                let r = self.tree(name, src);
                src.pop();
                name.truncate(len);
                r?;
            }
            Ok(())
        } else if ft.is_file() {
            let m = if meta.permissions().mode() & 0o111 != 0 { mode::STORE_EXEC } else { mode::STORE_FILE };
            self.host_file(name, src, meta.len(), m)
        } else if ft.is_symlink() {
            let target =
                std::fs::read_link(&*src).map_err(|source| ArchiveError::Read { path: src.clone(), source })?;
            self.header(name, Kind::Symlink { target: target.as_os_str().as_bytes() }, mode::SYMLINK)
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

/// A ustar header with our fixed fields. Names longer than 100 bytes are cut
/// here; the PAX record before the header carries the full name.
fn ustar(name: &[u8], ty: EntryType, mode: u32, size: u64, target: &[u8]) -> Header {
    let mut h = Header::new_ustar();
    {
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let t = target.len().min(100);
        old.linkname[..t].copy_from_slice(&target[..t]);
    }
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
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
        let h = ustar(b"rootfs/a", EntryType::Regular, 0o444, 5, b"");
        assert_eq!(h.mtime().unwrap(), 1);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.mode().unwrap(), 0o444);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        let big = ustar(b"rootfs/big", EntryType::Regular, 0o444, (8 << 30) + 1, b"");
        assert_eq!(big.size().unwrap(), (8 << 30) + 1);
    }
}
