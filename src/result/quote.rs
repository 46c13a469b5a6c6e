//! The one shell-quoting rule, for `postprocess.sh` and for the commands
//! postprocess prints.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Bytes a POSIX shell never treats specially inside a word. `~` is not among
/// them: a word that starts with `~root` undergoes tilde expansion.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-./:=,+@%".contains(&b)
}

/// Quotes raw bytes for a POSIX shell: unchanged when every byte is safe,
/// else in single quotes, with each `'` written as `'\''`. Works on bytes, so a
/// path that is not UTF-8 comes back exactly.
pub fn shell_quote_bytes(s: &[u8]) -> Vec<u8> {
    if !s.is_empty() && s.iter().all(|&b| is_safe(b)) {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(br"'\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// [`shell_quote_bytes`] for text.
pub fn shell_quote(s: &str) -> String {
    String::from_utf8(shell_quote_bytes(s.as_bytes())).expect("quoting UTF-8 keeps it UTF-8")
}

/// [`shell_quote_bytes`] for a path, shown lossily where it is not UTF-8 (for
/// messages; scripts use the bytes).
pub fn shell_quote_path(p: &std::path::Path) -> String {
    String::from_utf8_lossy(&shell_quote_bytes(p.as_os_str().as_bytes())).into_owned()
}

/// [`shell_quote_bytes`] of an OS string.
pub fn shell_quote_os(s: &OsStr) -> Vec<u8> {
    shell_quote_bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"ACIs/busybox-1.36.1-linux-amd64.aci", b"ACIs/busybox-1.36.1-linux-amd64.aci"),
            (b"my dir/x", b"'my dir/x'"),
            (b"it's", br"'it'\''s'"),
            (b"", b"''"),
            (b"~root/x", b"'~root/x'"),
            (b"a~b", b"'a~b'"),
            (b"$HOME", b"'$HOME'"),
            (b"caf\xe9", b"'caf\xe9'"),
        ];
        for (input, want) in cases {
            assert_eq!(shell_quote_bytes(input), want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn quoted_words_survive_the_shell() {
        for word in ["~root/x", "it's", "a b", "$(id)", "`id`", "x;y", "\\", "*", "ü"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }
}
