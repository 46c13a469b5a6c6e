//! Which machine a program is for: the `e_machine` field of an ELF header,
//! the interpreter of a `#!` script, and the ELF machine each appc arch
//! runs. An image for one architecture whose program is built for another
//! can never run, so the build checks its `exec` ([`super::rootfs`]).
//!
//! ELF header: <https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html>
//! (`e_ident[EI_DATA]` at byte 5 gives the byte order of `e_machine`, a
//! 16-bit field at byte 18). Machine numbers: the gABI's `EM_*` list.

/// Bytes of a file's beginning that [`machine_of`] and [`interpreter_of`] read.
pub const HEAD: usize = 256;

/// The `e_machine` of an ELF file's first bytes, or `None` when they are not
/// an ELF header.
pub fn machine_of(head: &[u8]) -> Option<u16> {
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let bytes = [head[18], head[19]];
    match head[5] {
        1 => Some(u16::from_le_bytes(bytes)),
        2 => Some(u16::from_be_bytes(bytes)),
        _ => None,
    }
}

/// The interpreter a `#!` line names (its first word), or `None` when the
/// bytes do not start with `#!` and an absolute path.
pub fn interpreter_of(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let word = line.split(|&b| b == b' ' || b == b'\t').find(|w| !w.is_empty())?;
    let s = std::str::from_utf8(word).ok()?;
    s.starts_with('/').then(|| s.to_string())
}

/// The ELF machine programs of the appc arch `arch` are built for; `None` for
/// an arch without one here (darwin's, which are not ELF).
pub fn machine_for_arch(os: &str, arch: &str) -> Option<u16> {
    if os == "darwin" {
        return None;
    }
    Some(match arch {
        "amd64" | "x86_64" => 62,
        "i386" => 3,
        "aarch64" | "aarch64_be" | "arm64" => 183,
        "armv6l" | "armv7l" | "armv7b" => 40,
        "ppc64" | "ppc64le" => 21,
        "s390x" => 22,
        "riscv64" => 243,
        _ => return None,
    })
}

/// The ELF machine of the image a manifest describes (its `os` and `arch`
/// labels); `None` without them or for an arch without one.
pub fn machine_of_image(m: &super::manifest::ImageManifest) -> Option<u16> {
    machine_for_arch(m.label("os")?, m.label("arch")?)
}

/// The Linux Nix system whose programs are for the ELF machine `m`, to
/// suggest as a `targetSystem`.
pub fn system_of_machine(m: u16) -> Option<&'static str> {
    Some(match m {
        62 => "x86_64-linux",
        3 => "i686-linux",
        183 => "aarch64-linux",
        40 => "armv7l-linux",
        21 => "powerpc64le-linux",
        22 => "s390x-linux",
        _ => return None,
    })
}

/// A machine number as people say it, with the number.
pub fn machine_name(m: u16) -> String {
    let name = match m {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "S/390",
        40 => "ARM (32-bit)",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        _ => return format!("ELF machine {m}"),
    };
    format!("{name} (ELF machine {m})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(data: u8, machine: [u8; 2]) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = data;
        h[18..20].copy_from_slice(&machine);
        h
    }

    #[test]
    fn machines() {
        assert_eq!(machine_of(&elf(1, [62, 0])), Some(62));
        assert_eq!(machine_of(&elf(1, [183, 0])), Some(183));
        assert_eq!(machine_of(&elf(2, [0, 22])), Some(22));
        assert_eq!(machine_of(&elf(3, [62, 0])), None);
        assert_eq!(machine_of(b"\x7fELF"), None);
        assert_eq!(machine_of(b"#!/bin/sh\n"), None);
        assert_eq!(machine_for_arch("linux", "amd64"), Some(62));
        assert_eq!(machine_for_arch("linux", "aarch64"), Some(183));
        assert_eq!(machine_for_arch("darwin", "x86_64"), None);
        assert_eq!(machine_for_arch("linux", "mips"), None);
        assert_eq!(machine_name(183), "AArch64 (ELF machine 183)");
        assert_eq!(machine_name(9999), "ELF machine 9999");
    }

    #[test]
    fn interpreters() {
        assert_eq!(interpreter_of(b"#!/bin/sh\necho"), Some("/bin/sh".into()));
        assert_eq!(interpreter_of(b"#! /nix/store/x-bash/bin/bash -e\n"), Some("/nix/store/x-bash/bin/bash".into()));
        assert_eq!(interpreter_of(b"#!sh\n"), None);
        assert_eq!(interpreter_of(b"\x7fELF"), None);
    }
}
