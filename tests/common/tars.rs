//! Tars written byte by byte for the reader tests: headers of any name
//! bytes, GNU long names, PAX records, and the SHA-256 the layouts name
//! their blobs by.

use sha2::{Digest, Sha256};

/// A ustar (or, with `gnu`, GNU) header, any name bytes, checksum set.
pub fn header(name: &[u8], ty: u8, size: u64, link: &[u8], gnu: bool) -> [u8; 512] {
    let mut h = if gnu { tar::Header::new_gnu() } else { tar::Header::new_ustar() };
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(tar::EntryType::new(ty));
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(1);
    h.set_cksum();
    *h.as_bytes()
}

/// Sets a hand-edited header's checksum again.
pub fn recksum(h: &mut [u8; 512]) {
    let sum: u32 = h.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { c as u32 }).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Appends one entry with its data and padding.
pub fn put(out: &mut Vec<u8>, name: &[u8], ty: u8, data: &[u8], link: &[u8]) {
    out.extend_from_slice(&header(name, ty, data.len() as u64, link, false));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A GNU long name (`L`) or long link (`K`) entry holding `data`.
pub fn long(out: &mut Vec<u8>, ty: u8, data: &[u8]) {
    out.extend_from_slice(&header(b"././@LongLink", ty, data.len() as u64, b"", true));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A PAX header entry holding these records.
pub fn pax(out: &mut Vec<u8>, records: &[(&[u8], &[u8])]) {
    let mut data = Vec::new();
    for (k, v) in records {
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(len.to_string().as_bytes());
        data.push(b' ');
        data.extend_from_slice(k);
        data.push(b'=');
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    put(out, b"././@PaxHeader", b'x', &data, b"");
}

/// The end-of-archive marker.
pub fn end(mut t: Vec<u8>) -> Vec<u8> {
    t.extend_from_slice(&[0; 1024]);
    t
}

pub fn sha_hex(b: &[u8]) -> String {
    super::hex(&Sha256::digest(b))
}
