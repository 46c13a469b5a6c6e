//! The image ID: `sha512-` and the 128 lowercase hex digits of the SHA-512 of the
//! uncompressed tar (appc spec, "Image ID"; rkt matches IDs by prefix).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageIdError {
    #[error("image ID {value:?} must start with \"sha512-\"")]
    MissingPrefix { value: String },
    #[error("image ID {value:?} must have 128 lowercase hex digits after \"sha512-\", it has {len} characters")]
    InvalidLength { value: String, len: usize },
    #[error("image ID {value:?} has {ch:?} at position {pos}; only 0-9 and a-f are allowed")]
    InvalidChar { value: String, ch: char, pos: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageId([u8; 64]);

impl ImageId {
    pub fn from_digest(digest: [u8; 64]) -> Self {
        ImageId(digest)
    }

    pub fn digest(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha512-")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageId {
    type Err = ImageIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha512-").ok_or_else(|| ImageIdError::MissingPrefix { value: s.into() })?;
        if hex.len() != 128 {
            return Err(ImageIdError::InvalidLength { value: s.into(), len: hex.len() });
        }
        let mut out = [0u8; 64];
        for (pos, ch) in hex.chars().enumerate() {
            let v = match ch {
                '0'..='9' => ch as u8 - b'0',
                'a'..='f' => ch as u8 - b'a' + 10,
                _ => return Err(ImageIdError::InvalidChar { value: s.into(), ch, pos: pos + 7 }),
            };
            out[pos / 2] |= if pos % 2 == 0 { v << 4 } else { v };
        }
        Ok(ImageId(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let s = format!("sha512-{}", "0a".repeat(64));
        assert_eq!(s.parse::<ImageId>().unwrap().to_string(), s);
        assert!(matches!("sha256-00".parse::<ImageId>(), Err(ImageIdError::MissingPrefix { .. })));
        assert!(matches!("sha512-00".parse::<ImageId>(), Err(ImageIdError::InvalidLength { len: 2, .. })));
        let upper = format!("sha512-{}", "0A".repeat(64));
        assert!(matches!(upper.parse::<ImageId>(), Err(ImageIdError::InvalidChar { ch: 'A', pos: 8, .. })));
    }
}
