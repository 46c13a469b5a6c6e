//! Opening and reading files that may come from anywhere (an image, a layout,
//! a docker-archive, the JSON and text files beside them) with a limit on
//! every read: a file is opened without blocking, must be a regular file (a
//! FIFO, a device or a link to `/dev/zero` is refused before a byte is read),
//! and a whole-file read is refused when the file is larger than the limit
//! the caller gives, before anything is read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why an untrusted file could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{} is a {kind}, not a regular file; mkaci reads only regular files (a FIFO or a device \
         would block or never end), replace it with the file itself",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{} is {size} bytes, more than the {limit} bytes mkaci reads for {what}; it is not \
         what mkaci writes, or it was replaced",
        path.display()
    )]
    TooLarge { path: PathBuf, what: &'static str, size: u64, limit: u64 },
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Opens `path` (following links) for reading without blocking on a FIFO,
/// and returns it with its size when it is a regular file.
pub fn open_regular(path: &Path) -> Result<(File, u64), UntrustedFileError> {
    let io = |source| UntrustedFileError::Io { path: path.to_path_buf(), source };
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(UntrustedFileError::NotRegular { path: path.to_path_buf(), kind: kind_of(meta.file_type()) });
    }
    Ok((file, meta.len()))
}

/// The whole regular file at `path`, refused before reading when it is
/// larger than `limit` bytes (`what` names it in the message). A file that
/// grows while it is read is cut at `limit + 1` bytes and refused too.
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, UntrustedFileError> {
    let (file, size) = open_regular(path)?;
    let too_large = |size| UntrustedFileError::TooLarge { path: path.to_path_buf(), what, size, limit };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| UntrustedFileError::Io { path: path.to_path_buf(), source })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_large_files_are_refused_before_reading() {
        let t = tempfile::tempdir().unwrap();
        let zero = t.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(read_bounded(&zero, 10, "a test"), Err(UntrustedFileError::NotRegular { .. })));
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(open_regular(&fifo), Err(UntrustedFileError::NotRegular { kind: "FIFO", .. })));
        let big = t.path().join("big");
        std::fs::write(&big, [1u8; 11]).unwrap();
        assert!(matches!(
            read_bounded(&big, 10, "a test"),
            Err(UntrustedFileError::TooLarge { size: 11, limit: 10, .. })
        ));
        assert_eq!(read_bounded(&big, 11, "a test").unwrap(), [1u8; 11]);
        assert!(matches!(open_regular(t.path()), Err(UntrustedFileError::NotRegular { kind: "directory", .. })));
    }
}
