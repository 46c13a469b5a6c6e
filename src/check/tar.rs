//! A strict, bounded, streaming tar reader for archives from anywhere (ACIs
//! and docker-archives). It yields each entry's type, full name, link name
//! and data size, with GNU long names (`L`, `K`) and PAX extended headers
//! (`x`) applied, and refuses every header that two readers (Go's
//! `archive/tar`, used by rkt, containerd and podman; GNU tar; the Rust `tar`
//! crate) could read differently, and every extension larger than a limit:
//!
//! - a GNU long name or long link name over [`MAX_NAME`] bytes, a PAX header
//!   over [`MAX_PAX_HEADER`] bytes (Go's own limit), refused from the header's
//!   size before the data is read;
//! - a NUL inside a name: GNU tar and Go cut a long name at its first NUL, and
//!   Go refuses a NUL in a PAX `path` or `linkpath`, so the name a reader sees
//!   would depend on the reader (one trailing NUL, which GNU tar and Go
//!   write to end a long name, is fine; more are not, as the `tar` crate
//!   keeps all but one);
//! - two long names, or two PAX headers, for one entry (Go keeps the last,
//!   the `tar` crate refuses), a long name together with a PAX `path` (Go
//!   prefers the long name, others the PAX record), an extension header
//!   followed by the end of the archive;
//! - PAX records that are malformed, repeated, empty where a value is needed,
//!   or `GNU.sparse.*` (Go reads such an entry's data as a sparse map, other
//!   readers as its contents);
//! - a header whose checksum is not the unsigned sum, whose magic is neither
//!   POSIX ustar (`ustar\0` `00`) nor GNU (`ustar ` ` \0`), a ustar header
//!   with bytes in its padding (Go reads it as a STAR header with a shorter
//!   prefix), or a number field that is not plain octal or positive base-256;
//! - a header-only entry (hard link, symlink, device, directory, FIFO) with a
//!   data size: Go reads the next header right after it, the `tar` crate
//!   after the data;
//! - a regular file of the old type `\0` whose name ends in `/` (Go makes it
//!   a directory, others a file);
//! - more than the caller's entry limit.
//!
//! Reading stops at the first zero block; the caller reads what follows.

use std::io::Read;

/// Largest GNU long name, long link name, or PAX `path`/`linkpath`, in bytes:
/// sixteen times Linux's `PATH_MAX`; no extractor can create a longer path.
pub const MAX_NAME: u64 = 64 << 10;

/// Largest PAX extended header, in bytes (Go's `archive/tar` refuses larger
/// ones as well).
pub const MAX_PAX_HEADER: u64 = 1 << 20;

const BLOCK: usize = 512;

/// Why a tar could not be read. `offset` is the byte offset, in the tar, of
/// the header concerned.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("cannot read the tar at offset {offset}: {source}")]
    Io { offset: u64, source: std::io::Error },
    #[error("the tar ends inside {what} at offset {offset}; the archive is truncated")]
    Truncated { offset: u64, what: &'static str },
    #[error("the tar has no end-of-archive marker (two zero blocks) at offset {offset}; the archive is truncated")]
    MissingEnd { offset: u64 },
    #[error("the tar header at offset {offset} has checksum {stored:?}, but its bytes sum to {computed}; the archive is damaged")]
    BadChecksum { offset: u64, stored: String, computed: u64 },
    #[error(
        "the tar header at offset {offset} has magic {magic}; only POSIX ustar (\"ustar\\0\" \"00\") and GNU \
         (\"ustar \" \" \\0\") headers are read, since older formats are read differently by different tools"
    )]
    UnknownHeaderFormat { offset: u64, magic: String },
    #[error(
        "the ustar header at offset {offset} has bytes in its padding (offset 500 to 511 of the header); Go's \
         archive/tar reads such a header as STAR with a shorter name prefix, other readers as ustar"
    )]
    StarHeader { offset: u64 },
    #[error(
        "the tar header at offset {offset} has {field} {value:?}, which is not an octal or positive base-256 number"
    )]
    BadNumber { offset: u64, field: &'static str, value: String },
    #[error(
        "the {what} at offset {offset} is {size} bytes; at most {MAX_NAME} are read (a path is at most 4096 \
         bytes on Linux, so no tool could create this entry)"
    )]
    NameTooLong { offset: u64, what: &'static str, size: u64 },
    #[error(
        "the PAX header at offset {offset} is {size} bytes; at most {MAX_PAX_HEADER} are read (Go's archive/tar \
         has the same limit)"
    )]
    PaxTooLarge { offset: u64, size: u64 },
    #[error(
        "the {field} of the entry at offset {offset} holds a NUL byte before its end ({name:?}): GNU tar and Go \
         cut the name there and read another file than the one named in full"
    )]
    NulInName { offset: u64, field: &'static str, name: String },
    #[error("the PAX header at offset {offset} has a malformed record: {message}")]
    BadPaxRecord { offset: u64, message: String },
    #[error("the PAX header at offset {offset} has the record {key:?} twice; readers differ on which one counts")]
    DuplicatePaxKey { offset: u64, key: String },
    #[error(
        "the PAX header at offset {offset} has the record {key:?}: Go reads the entry's data as a GNU sparse map, \
         other readers as the file's contents"
    )]
    SparsePax { offset: u64, key: String },
    #[error(
        "two {what} headers in a row at offset {offset} describe one entry; Go keeps the last, other readers \
         refuse the archive"
    )]
    TwoExtensions { offset: u64, what: &'static str },
    #[error(
        "the entry at offset {offset} has both a GNU long {field} and a PAX {field} record; Go uses the first, \
         other readers the second"
    )]
    NameTwice { offset: u64, field: &'static str },
    #[error(
        "the {what} header at offset {offset} is followed by the end of the archive, not by the entry it describes"
    )]
    DanglingExtension { offset: u64, what: &'static str },
    #[error(
        "the entry {name:?} at offset {offset} is of type {kind:?}, which has no data, but its header gives \
         {size} bytes of data: Go reads the next header right after it, other readers after the data"
    )]
    DataOnHeaderOnlyEntry { offset: u64, name: String, kind: char, size: u64 },
    #[error(
        "the entry {name:?} at offset {offset} is an old-style regular file (type NUL) whose name ends in \"/\": \
         Go reads it as a directory, other readers as a file"
    )]
    AmbiguousType { offset: u64, name: String },
    #[error("the archive has more than {limit} entries; mkaci stops there to bound its memory ({hint})")]
    TooManyEntries { limit: u64, hint: &'static str },
}

/// One entry, with its extensions applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Offset of its header in the tar (of its first extension header, if any).
    pub offset: u64,
    /// The type flag; the old regular-file type `\0` is reported as `0`.
    pub kind: u8,
    /// The full name: the GNU long name, the PAX `path`, or the header's
    /// (ustar prefix joined), without its terminating NULs.
    pub name: Vec<u8>,
    /// The full link name, likewise.
    pub link: Vec<u8>,
    /// Bytes of data (the PAX `size` when there is one).
    pub size: u64,
    /// Offset of its data in the tar.
    pub data_offset: u64,
}

impl TarEntry {
    /// Whether a reader writes it as a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == b'0'
    }
}

/// Reads entries one by one from an uncompressed tar stream.
pub struct TarReader<R> {
    inner: R,
    pos: u64,
    /// Data bytes of the current entry not read yet, then its padding.
    remaining: u64,
    padding: u64,
    entries: u64,
    max_entries: u64,
    max_entries_hint: &'static str,
}

/// What the extension headers before an entry said.
#[derive(Default)]
struct Pending {
    offset: Option<u64>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
}

impl<R: Read> TarReader<R> {
    /// A reader that refuses the archive past `max_entries` entries;
    /// `max_entries_hint` says, in the message, how to raise the limit or
    /// why there is no need.
    pub fn new(inner: R, max_entries: u64, max_entries_hint: &'static str) -> Self {
        TarReader { inner, pos: 0, remaining: 0, padding: 0, entries: 0, max_entries, max_entries_hint }
    }

    /// Bytes of the tar consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry, skipping what is left of the current one's data;
    /// `None` after the first zero block.
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>, TarError> {
        self.skip(self.remaining + self.padding, "an entry's data")?;
        self.remaining = 0;
        self.padding = 0;
        let mut pending = Pending::default();
        loop {
            let offset = self.pos;
            let mut block = [0u8; BLOCK];
            let got = self.fill(&mut block)?;
            if got == 0 {
                return Err(TarError::MissingEnd { offset });
            }
            if got < BLOCK {
                return Err(TarError::Truncated { offset, what: "a header" });
            }
            if block.iter().all(|&b| b == 0) {
                if let Some(what) = pending.what() {
                    return Err(TarError::DanglingExtension { offset: pending.offset.unwrap_or(offset), what });
                }
                return Ok(None);
            }
            let h = parse_header(&block, offset)?;
            let data_size = h.size;
            match h.kind {
                b'L' | b'K' => {
                    let (slot, what, field) = if h.kind == b'L' {
                        (&mut pending.long_name, "GNU long name", "long name")
                    } else {
                        (&mut pending.long_link, "GNU long link name", "long link name")
                    };
                    if slot.is_some() {
                        return Err(TarError::TwoExtensions { offset, what });
                    }
                    if data_size > MAX_NAME {
                        return Err(TarError::NameTooLong { offset, what, size: data_size });
                    }
                    let data = self.read_extension(data_size)?;
                    *slot = Some(c_string(&data, offset, field)?);
                    pending.offset.get_or_insert(offset);
                }
                b'x' => {
                    if pending.pax.is_some() {
                        return Err(TarError::TwoExtensions { offset, what: "PAX" });
                    }
                    if data_size > MAX_PAX_HEADER {
                        return Err(TarError::PaxTooLarge { offset, size: data_size });
                    }
                    let data = self.read_extension(data_size)?;
                    pending.pax = Some(parse_pax(&data, offset)?);
                    pending.offset.get_or_insert(offset);
                }
                _ => {
                    self.entries += 1;
                    if self.entries > self.max_entries {
                        return Err(TarError::TooManyEntries { limit: self.max_entries, hint: self.max_entries_hint });
                    }
                    return self.entry(h, pending, offset).map(Some);
                }
            }
        }
    }

    fn entry(&mut self, h: Header, pending: Pending, offset: u64) -> Result<TarEntry, TarError> {
        let pax = pending.pax.unwrap_or_default();
        let name = match (pending.long_name, pax.path) {
            (Some(_), Some(_)) => return Err(TarError::NameTwice { offset, field: "name" }),
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => h.name,
        };
        let link = match (pending.long_link, pax.linkpath) {
            (Some(_), Some(_)) => return Err(TarError::NameTwice { offset, field: "link name" }),
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => h.link,
        };
        let size = pax.size.unwrap_or(h.size);
        let mut kind = h.kind;
        if kind == 0 {
            if name.ends_with(b"/") {
                return Err(TarError::AmbiguousType { offset, name: show(&name) });
            }
            kind = b'0';
        }
        // Go's isHeaderOnlyType.
        if matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') && size != 0 {
            return Err(TarError::DataOnHeaderOnlyEntry { offset, name: show(&name), kind: kind as char, size });
        }
        self.remaining = size;
        self.padding = pad(size);
        Ok(TarEntry { offset: pending.offset.unwrap_or(offset), kind, name, link, size, data_offset: self.pos })
    }

    /// Reads the current entry's data (at most what is left of it).
    pub fn read_data(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (buf.len() as u64).min(self.remaining) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the tar ends inside an entry's data"));
        }
        self.remaining -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }

    /// The current entry's data as a reader.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let offset = self.pos;
        let mut data = vec![0u8; size as usize];
        if self.fill(&mut data)? < data.len() {
            return Err(TarError::Truncated { offset, what: "an extension header's data" });
        }
        self.skip(pad(size), "an extension header's padding")?;
        Ok(data)
    }

    /// Reads until `buf` is full or the stream ends; the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(TarError::Io { offset: self.pos, source }),
            }
        }
        Ok(got)
    }

    fn skip(&mut self, mut n: u64, what: &'static str) -> Result<(), TarError> {
        let offset = self.pos;
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.fill(&mut buf[..want])?;
            if got < want {
                return Err(TarError::Truncated { offset, what });
            }
            n -= got as u64;
        }
        Ok(())
    }
}

impl Pending {
    fn what(&self) -> Option<&'static str> {
        if self.pax.is_some() {
            Some("PAX")
        } else if self.long_name.is_some() {
            Some("GNU long name")
        } else if self.long_link.is_some() {
            Some("GNU long link name")
        } else {
            None
        }
    }
}

/// The current entry's data; see [`TarReader::data`].
pub struct EntryData<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tar.read_data(buf)
    }
}

fn pad(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64 - size
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The fields of one header block that decide how the archive is read.
struct Header {
    kind: u8,
    name: Vec<u8>,
    link: Vec<u8>,
    size: u64,
}

/// A fixed field up to its first NUL (every reader cuts there).
fn field(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn parse_header(b: &[u8; BLOCK], offset: u64) -> Result<Header, TarError> {
    let magic = &b[257..263];
    let version = &b[263..265];
    let ustar = magic == b"ustar\0" && version == b"00";
    let gnu = magic == b"ustar " && version == b" \0";
    if !ustar && !gnu {
        let magic = b[257..265].iter().map(|c| format!("{c:02x}")).collect::<Vec<_>>().join(" ");
        return Err(TarError::UnknownHeaderFormat { offset, magic });
    }
    if ustar && b[500..].iter().any(|&c| c != 0) {
        return Err(TarError::StarHeader { offset });
    }
    let stored = &b[148..156];
    let computed: u64 =
        b.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { b' ' as u64 } else { c as u64 }).sum();
    if octal(stored) != Some(computed) {
        return Err(TarError::BadChecksum { offset, stored: show(stored), computed });
    }
    let number = |range: std::ops::Range<usize>, field: &'static str| {
        number(&b[range.clone()]).ok_or_else(|| TarError::BadNumber { offset, field, value: show(&b[range]) })
    };
    number(100..108, "mode")?;
    number(108..116, "uid")?;
    number(116..124, "gid")?;
    // The size frames the archive: one with no digit at all (spaces or NULs
    // only) is read as 0 by Go's archive/tar and refused by Rust's tar, so
    // refuse it.
    let size_field = &b[124..136];
    if size_field.first() != Some(&0x80) && !size_field.iter().any(u8::is_ascii_digit) {
        return Err(TarError::BadNumber { offset, field: "size", value: show(size_field) });
    }
    let size = number(124..136, "size")?;
    number(136..148, "mtime")?;
    let kind = b[156];
    if matches!(kind, b'3' | b'4') {
        number(329..337, "devmajor")?;
        number(337..345, "devminor")?;
    }
    let mut name = field(&b[..100]).to_vec();
    if ustar {
        let prefix = field(&b[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    Ok(Header { kind, name, link: field(&b[157..257]).to_vec(), size })
}

/// An octal number field: digits, then NULs or spaces; leading spaces
/// allowed; empty is 0.
fn octal(b: &[u8]) -> Option<u64> {
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    let b = &b[start..];
    let end = b.iter().position(|&c| c == 0 || c == b' ').unwrap_or(b.len());
    if b[end..].iter().any(|&c| c != 0 && c != b' ') {
        return None;
    }
    let digits = &b[..end];
    if digits.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// A number field: octal, or base-256 (first byte 0x80) when positive.
fn number(b: &[u8]) -> Option<u64> {
    match b.first() {
        Some(0x80) => {
            let mut v: u64 = 0;
            for &d in &b[1..] {
                v = v.checked_mul(256)?.checked_add(u64::from(d))?;
            }
            Some(v)
        }
        Some(c) if c & 0x80 != 0 => None,
        _ => octal(b),
    }
}

/// Long-name data: the name, then at most one NUL (what GNU tar and Go
/// write). GNU tar and Go cut the name at its first NUL, the `tar` crate only
/// drops one at the end, so a name followed by more NULs would read
/// differently too.
fn c_string(data: &[u8], offset: u64, field: &'static str) -> Result<Vec<u8>, TarError> {
    let name = data.strip_suffix(&[0]).unwrap_or(data);
    if name.contains(&0) {
        return Err(TarError::NulInName { offset, field, name: show(name) });
    }
    Ok(name.to_vec())
}

/// Parses PAX records `"<len> <key>=<value>\n"`, keeping those that change
/// how the entry is read.
fn parse_pax(data: &[u8], offset: u64) -> Result<Pax, TarError> {
    let bad = |message: String| TarError::BadPaxRecord { offset, message };
    let mut pax = Pax::default();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&c| c == b' ').ok_or_else(|| bad("a record has no length".into()))?;
        let len_text = &rest[..sp];
        if len_text.is_empty() || len_text.len() > 8 || !len_text.iter().all(u8::is_ascii_digit) {
            return Err(bad(format!("the record length {:?} is not a number", show(len_text))));
        }
        let len: usize = std::str::from_utf8(len_text).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad(format!("a record of length {len} does not end in a newline there")));
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record.iter().position(|&c| c == b'=').ok_or_else(|| bad(format!("{:?} has no '='", show(record))))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        if key.is_empty() || key.contains(&0) {
            return Err(bad(format!("the key {:?} is empty or holds a NUL", show(key))));
        }
        if seen.iter().any(|k| k == key) {
            return Err(TarError::DuplicatePaxKey { offset, key: show(key) });
        }
        seen.push(key.to_vec());
        if key.starts_with(b"GNU.sparse.") {
            return Err(TarError::SparsePax { offset, key: show(key) });
        }
        match key {
            b"path" | b"linkpath" => {
                let field = if key == b"path" { "PAX path" } else { "PAX linkpath" };
                if value.len() as u64 > MAX_NAME {
                    return Err(TarError::NameTooLong { offset, what: field, size: value.len() as u64 });
                }
                if value.contains(&0) {
                    return Err(TarError::NulInName { offset, field, name: show(value) });
                }
                if value.is_empty() {
                    return Err(bad(format!("{field} is empty (readers differ on whether that clears the name)")));
                }
                if key == b"path" {
                    pax.path = Some(value.to_vec());
                } else {
                    pax.linkpath = Some(value.to_vec());
                }
            }
            b"size" | b"uid" | b"gid" => {
                let v = std::str::from_utf8(value)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| bad(format!("{} {:?} is not a decimal number", show(key), show(value))))?;
                if key == b"size" {
                    pax.size = Some(v);
                }
            }
            b"uname" | b"gname" if value.contains(&0) => {
                return Err(bad(format!("{} holds a NUL", show(key))));
            }
            _ => {}
        }
    }
    Ok(pax)
}

/// What a tar entry of type `t` is, in words, for messages.
pub(crate) fn kind_name(t: u8) -> &'static str {
    match t {
        b'0' => "regular file",
        b'5' => "directory",
        b'2' => "symlink",
        b'1' => "hard link",
        b'3' | b'4' => "device",
        b'6' => "fifo",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_strict() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"  644 \0"), Some(0o644));
        assert_eq!(octal(b"\0\0\0"), Some(0));
        assert_eq!(octal(b"12\x0034\0"), None);
        assert_eq!(octal(b"89"), None);
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(&[0xff; 12]), None);
    }

    #[test]
    fn pax_records_are_strict() {
        let p = parse_pax(b"12 path=a/b\n", 0).unwrap();
        assert_eq!(p.path.as_deref(), Some(&b"a/b"[..]));
        assert!(matches!(parse_pax(b"12 path=a\0b\n", 0), Err(TarError::NulInName { .. })));
        assert!(matches!(parse_pax(b"9 size=1\n9 size=2\n", 0), Err(TarError::DuplicatePaxKey { .. })));
        assert!(matches!(parse_pax(b"22 GNU.sparse.major=1\n", 0), Err(TarError::SparsePax { .. })));
        assert!(matches!(parse_pax(b"13 path=a/b\n", 0), Err(TarError::BadPaxRecord { .. })));
        assert!(matches!(parse_pax(b"10 size=-1\n", 0), Err(TarError::BadPaxRecord { .. })));
    }

    #[test]
    fn a_size_of_no_digits_is_refused() {
        // A file header as tar writes it, then its size field emptied (NULs,
        // or spaces) and its checksum fixed: Go reads 0, Rust's tar refuses.
        let mut h = tar::Header::new_ustar();
        h.set_path("rootfs/a").unwrap();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        let block: [u8; BLOCK] = h.as_bytes().to_owned();
        assert!(parse_header(&block, 0).is_ok());
        for fill in [0u8, b' '] {
            let mut b = block;
            b[124..136].fill(fill);
            b[148..156].fill(b' ');
            let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
            b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            assert!(
                matches!(parse_header(&b, 0), Err(TarError::BadNumber { field: "size", .. })),
                "{:?}",
                parse_header(&b, 0).map(|_| ())
            );
        }
    }

    #[test]
    fn long_names_end_at_their_trailing_nuls_only() {
        assert_eq!(c_string(b"rootfs/a\0", 0, "x").unwrap(), b"rootfs/a");
        assert_eq!(c_string(b"rootfs/a", 0, "x").unwrap(), b"rootfs/a");
        assert!(matches!(c_string(b"rootfs/a\0\0", 0, "x"), Err(TarError::NulInName { .. })));
        assert!(matches!(c_string(b"rootfs/bin/sh\0junk\0", 0, "x"), Err(TarError::NulInName { .. })));
    }
}
