//! SHA-256 digests as OCI writes them (`sha256:` and 64 lowercase hex
//! digits): parsing, serde, and hashing a blob held in memory.

use sha2::{Digest, Sha256};

pub use crate::archive::Sha256Digest;

/// Parses `sha256:<64 lowercase hex>`; `None` for anything else.
pub fn parse(s: &str) -> Option<Sha256Digest> {
    let hex = s.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        // `get`: a non-ASCII character would put a slice inside it.
        let pair = hex.get(2 * i..2 * i + 2)?;
        if !pair.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            return None;
        }
        *b = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(Sha256Digest::from_bytes(bytes))
}

/// The 64 hex digits alone: the blob's file name under `blobs/sha256/`.
pub fn hex(d: &Sha256Digest) -> String {
    d.to_string()["sha256:".len()..].to_string()
}

/// The digest of bytes held in memory (a config, a manifest).
pub fn of_bytes(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

/// `#[serde(with = "digest::serde_str")]` for a [`Sha256Digest`] field.
pub mod serde_str {
    use super::Sha256Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Sha256Digest, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sha256Digest, D::Error> {
        let s = String::deserialize(d)?;
        super::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not a digest: expected sha256: and 64 lowercase hex digits"))
        })
    }
}

/// `#[serde(with = "digest::serde_vec")]` for a list of digests.
pub mod serde_vec {
    use super::Sha256Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Sha256Digest], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| d.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sha256Digest>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|s| super::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a sha256: digest"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_show() {
        let d = of_bytes(b"");
        let s = d.to_string();
        assert_eq!(s, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(parse(&s), Some(d));
        assert_eq!(hex(&d), &s[7..]);
        for bad in ["", "sha256:", "sha512:e3b0", &s.to_uppercase(), &s[..70], &format!("{s}0")] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        // 64 bytes with a two-byte character across a digit pair.
        let odd = format!("sha256:{}\u{6e0}{}", "a".repeat(37), "b".repeat(25));
        assert_eq!(parse(&odd), None);
    }
}
