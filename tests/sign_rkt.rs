//! `Gpg::sign_detached` only hands out RSA signatures that rkt 1.30 can
//! verify: none written shorter than the key's modulus (see
//! `mkaci::publish::sign::SignaturePacket`). Real gpg, throwaway GNUPGHOMEs; gpg is run
//! through a small wrapper script that sets GNUPGHOME (the tests share one
//! process environment) and, for some tests, hands back a short signature.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;
use mkaci::publish::sign::{
    Fingerprint, Gpg, GpgError, PubkeyAlgo, SignaturePacket, MAX_SIGN_ATTEMPTS, RETRY_NOTATION,
};

/// A real detached signature of `FIXTURE_DATA` by `FIXTURE_KEY` (RSA 1024)
/// whose value begins with a zero octet, so gpg wrote it as a 1016-bit MPI:
/// valid OpenPGP, accepted by `gpg --verify`, rejected by rkt 1.30. Found by
/// signing with changing notations.
const SHORT_SIG: &str = include_str!("../src/publish/testdata/short-rsa1024.asc");
const FIXTURE_DATA: &str = "nix2aci\n";
/// The public part of the throwaway key that made `SHORT_SIG`
/// (C8F901926EDA92FBD105BD476D0A161AE7227D09).
const FIXTURE_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

mI0EawOuggEEANqN6Ei13mmF2bSEEzQsh4upGPnsZgrOJP8CfKReJVPoWEroT8AU
j3JfrxSnSKJ0rzeKcxthTx+OtwgvHRR2U5mEqTIk8rIB2VQo0POREaGHbz5wfbP1
jSwC0GcYpjbakU1ZS8ja7BlMXyMPtmrL87z9TuEVwvHgcYUM3AJCNJNbABEBAAG0
HmZpeHR1cmUgPGZpeHR1cmVAdGVzdC5pbnZhbGlkPojOBBMBCgA4FiEEyPkBkm7a
kvvRBb1HbQoWGucifQkFAmsDroICGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AA
CgkQbQoWGucifQlPmwQAhibM0JMFzp8AwNDLQlqaLbBVEGPYJ0N1On8U20OS9grD
VU66vdzAmu2vDe/OIR4fnnGQm9rRRGXQQg9D8z8eBl9qvGm3c74gdZGOun8nH2oB
rzL9/yCxPydkUrm0X4nKM4uX5h92Mk5j1N1bYxQ7P5etlbkaElEuReiTF5DgHWQ=
=K9C1
-----END PGP PUBLIC KEY BLOCK-----
";

/// What the wrapper does with a signing call (`--detach-sign`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Runs gpg.
    Real,
    /// Prints `SHORT_SIG` as if the home's key had made it, unless the call
    /// has `--sig-notation` (a retry); then runs gpg.
    ShortFirst,
    /// Always prints `SHORT_SIG`.
    AlwaysShort,
}

/// A gpg wrapper in `dir` for `home`; every call's arguments go to a line of
/// `dir/calls`.
struct Wrapper {
    gpg: Gpg,
    calls: PathBuf,
}

impl Wrapper {
    fn new(home: &GpgHome, dir: &Path, mode: Mode) -> Wrapper {
        let short = dir.join("short.asc");
        std::fs::write(&short, SHORT_SIG).unwrap();
        let calls = dir.join("calls");
        let (sign_short, retry_short) = match mode {
            Mode::Real => ("no", "no"),
            Mode::ShortFirst => ("yes", "no"),
            Mode::AlwaysShort => ("yes", "yes"),
        };
        let script = format!(
            r#"#!/bin/sh
GNUPGHOME='{home}'; export GNUPGHOME
echo "$*" >> '{calls}'
short=no
case " $* " in *" --detach-sign "*) short={sign_short};; esac
case " $* " in *" --sig-notation "*) [ {retry_short} = yes ] || short=no;; esac
if [ $short = yes ]; then
    cat '{short}'
    echo "[GNUPG:] SIG_CREATED D 1 10 00 1795403396 {fpr}" >&2
    exit 0
fi
exec gpg "$@"
"#,
            home = home.path().display(),
            calls = calls.display(),
            short = short.display(),
            // Only a short signature needs it (a keyless home has none).
            fpr = if mode == Mode::Real { String::new() } else { home.fingerprint() },
        );
        let program = dir.join("gpg");
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Wrapper { gpg: Gpg::locate(Some(&program)).unwrap(), calls }
    }

    /// The arguments of each call, in order.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls).unwrap_or_default().lines().map(String::from).collect()
    }

    fn sign_calls(&self) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.contains("--detach-sign")).collect()
    }
}

fn fingerprint(home: &GpgHome) -> Fingerprint {
    home.fingerprint().parse().unwrap()
}

#[test]
fn a_hundred_rsa_signatures_are_full_length_and_verify() {
    if !need("gpg") {
        return;
    }
    let start = Instant::now();
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let w = Wrapper::new(&home, t.path(), Mode::Real);
    let key_bits = w.gpg.key_bits(&fingerprint(&home)).unwrap();
    assert_eq!(key_bits, 3072);
    for i in 0..100 {
        let file = t.path().join(format!("file-{i}"));
        std::fs::write(&file, format!("image {i}\n")).unwrap();
        let sig = w.gpg.sign_detached(&file, None).unwrap();
        assert_eq!((sig.algo, &sig.signer), (PubkeyAlgo::Rsa, &fingerprint(&home)));
        let packet = SignaturePacket::from_armored(&sig.armored).unwrap();
        assert!(packet.is_rsa(), "{packet:?}");
        assert_eq!(packet.mpi_len(), 384, "file {i}: {packet:?}");
        assert!(!packet.is_short_for(key_bits));
        let asc = t.path().join(format!("file-{i}.asc"));
        std::fs::write(&asc, &sig.armored).unwrap();
        let good = w.gpg.verify_detached(&asc, &file).unwrap();
        assert_eq!(good.signer, sig.signer);
    }
    // Per file: its signatures (two for a retry), one key length lookup and
    // the check; and the one lookup above.
    let calls = w.calls();
    let signs = w.sign_calls().len();
    assert!((100..=110).contains(&signs), "{signs} signing calls for 100 files");
    assert_eq!(calls.len(), 1 + signs + 100 + 100, "{calls:#?}");
    eprintln!("100 signatures ({signs} made) in {:?}", start.elapsed());
}

#[test]
fn gpg_accepts_the_short_fixture_signature() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::None);
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("key.asc");
    std::fs::write(&key, FIXTURE_KEY).unwrap();
    let out = home.gpg().arg("--import").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (data, asc) = (t.path().join("data"), t.path().join("data.asc"));
    std::fs::write(&data, FIXTURE_DATA).unwrap();
    std::fs::write(&asc, SHORT_SIG).unwrap();
    // The key was made in late 2026: do not fail on a clock behind that.
    let out = home.gpg().args(["--ignore-time-conflict", "--verify"]).arg(&asc).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let packet = SignaturePacket::from_armored(SHORT_SIG.as_bytes()).unwrap();
    assert_eq!(packet.mpi_bits, 1016);
    let key_bits = Wrapper::new(&home, t.path(), Mode::Real)
        .gpg
        .key_bits(&"C8F901926EDA92FBD105BD476D0A161AE7227D09".parse().unwrap())
        .unwrap();
    assert_eq!(key_bits, 1024);
    assert!(packet.is_short_for(key_bits));
}

#[test]
fn a_short_signature_is_made_again_with_a_non_critical_notation() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let w = Wrapper::new(&home, t.path(), Mode::ShortFirst);
    let file = t.path().join("image.aci");
    std::fs::write(&file, "an image\n").unwrap();
    let sig = w.gpg.sign_detached(&file, None).unwrap();
    let signs = w.sign_calls();
    assert_eq!(signs.len(), 2, "{signs:#?}");
    assert!(!signs[0].contains("--sig-notation"), "{}", signs[0]);
    assert!(signs[1].contains(&format!("--sig-notation {RETRY_NOTATION}=2")), "{}", signs[1]);
    // The second is gpg's own, full length, and verifies.
    assert_ne!(sig.armored, SHORT_SIG.as_bytes());
    assert_eq!(SignaturePacket::from_armored(&sig.armored).unwrap().mpi_len(), 384);
    let asc = t.path().join("image.aci.asc");
    std::fs::write(&asc, &sig.armored).unwrap();
    let out = home.gpg().args(["--status-fd", "2", "--verify"]).arg(&asc).arg(&file).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("[GNUPG:] NOTATION_NAME {RETRY_NOTATION}\n[GNUPG:] NOTATION_FLAGS 0 1\n")), "{err}");
    assert!(err.contains("[GNUPG:] NOTATION_DATA 2\n"), "{err}");
    // The notation is hashed and not critical, so verifiers that do not know
    // notations (rkt's x/crypto/openpgp) skip it.
    let out = home.gpg().arg("--list-packets").arg(&asc).output().unwrap();
    let packets = stdout(&out);
    assert!(packets.contains("\thashed subpkt 20 len"), "{packets}");
    assert!(!packets.contains("critical hashed subpkt 20"), "{packets}");
}

#[test]
fn always_short_gives_up_after_the_last_attempt() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let w = Wrapper::new(&home, t.path(), Mode::AlwaysShort);
    let file = t.path().join("image.aci");
    std::fs::write(&file, "an image\n").unwrap();
    let err = w.gpg.sign_detached(&file, Some(&home.fingerprint())).unwrap_err();
    assert_eq!(
        err,
        GpgError::ShortRsaSignature {
            file: file.clone(),
            signer: fingerprint(&home),
            attempts: MAX_SIGN_ATTEMPTS,
            key_bits: 3072
        }
    );
    let message = err.to_string();
    assert!(message.contains("RSA verification failure") && message.contains("--key"), "{message}");
    let signs = w.sign_calls();
    assert_eq!(signs.len(), MAX_SIGN_ATTEMPTS as usize);
    for (i, call) in signs.iter().enumerate().skip(1) {
        assert!(call.contains(&format!("{RETRY_NOTATION}={}", i + 1)), "{call}");
    }
    // The key length is asked once.
    assert_eq!(w.calls().iter().filter(|c| c.contains("--list-keys")).count(), 1);
}

#[test]
fn eddsa_signatures_are_left_alone() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Ed25519);
    let t = tempfile::tempdir().unwrap();
    let w = Wrapper::new(&home, t.path(), Mode::Real);
    let file = t.path().join("image.aci");
    std::fs::write(&file, "an image\n").unwrap();
    let sig = w.gpg.sign_detached(&file, None).unwrap();
    assert_eq!(sig.algo, PubkeyAlgo::Eddsa);
    // One signature, no key length asked for.
    assert_eq!(w.calls().len(), 1, "{:#?}", w.calls());
}
