//! The user's GnuPG, driven from outside the sandbox: find the program, check
//! that a secret key exists, make ASCII-armored detached signatures, export the
//! signer's public key and verify signatures (appc.md §5: `NAME.aci.asc` is
//! `gpg --armor --detach-sign` over the `.aci` exactly as shipped).
//!
//! gpg is always run through [`Command`] with an argument vector, never a shell,
//! with `--batch`, and with `--status-fd 2` so that the outcome is read from
//! gpg's machine-readable status lines (`[GNUPG:] ...`, see GnuPG's
//! `doc/DETAILS`) instead of its translated messages. Key listings come from
//! `--with-colons` output, parsed by [`parse_secret_keys`].
//!
//! This module never creates keys; `scripts/ensure-signing-key` does that.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;

/// Names looked up on `PATH`, in order, when no gpg is given explicitly.
pub const GPG_NAMES: [&str; 2] = ["gpg2", "gpg"];

/// Errors from finding or running gpg. Each message names the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpgError {
    #[error(
        "no gpg found on PATH (looked for gpg2 and gpg in {searched:?}); install GnuPG \
         (Debian: apt install gnupg) or give the program with --gpg PATH or MKACI_GPG=PATH"
    )]
    NotFound { searched: String },
    #[error("cannot run gpg {program:?}: {message}; check the path given with --gpg or MKACI_GPG")]
    CannotRun { program: PathBuf, message: String },
    #[error(
        "gpg has no secret key to sign with (GNUPGHOME={gnupghome:?}); create one with \
         scripts/ensure-signing-key (or `gpg --quick-gen-key`), import yours with \
         `gpg --import`, or publish without signatures (mkACI sign = false)"
    )]
    NoSecretKey { gnupghome: String },
    #[error(
        "gpg has no secret key matching {key:?} (given with --key or MKACI_SIGN_KEY); \
         list yours with `gpg --list-secret-keys` and pass one of them, or leave --key unset \
         to sign with gpg's default key"
    )]
    NoSecretKeyMatching { key: String },
    #[error(
        "gpg has secret keys, but none can sign now ({keys}: expired, revoked, disabled or \
         without signing capability); pick a usable key with --key, or make one with \
         scripts/ensure-signing-key"
    )]
    NoUsableSigningKey { keys: String },
    #[error(
        "gpg-agent could not unlock the secret key to sign {file:?} ({gpg_message}); unlock it \
         once in a terminal so the agent caches the passphrase (e.g. `echo | gpg --clearsign \
         >/dev/null`), set a working pinentry-program in gpg-agent.conf, insert the \
         smartcard, or choose another key with --key"
    )]
    CannotUnlock { file: PathBuf, gpg_message: String },
    #[error("gpg failed to sign {file:?} ({gpg_message}); run `gpg --armor --detach-sign` on it by hand to see why")]
    SignFailed { file: PathBuf, gpg_message: String },
    #[error("gpg signed {file:?} but reported no SIG_CREATED status line; this gpg is not supported, point --gpg at GnuPG 2")]
    NoSignatureStatus { file: PathBuf },
    #[error(
        "gpg could not export the public key {fingerprint} ({gpg_message}); check `gpg --armor --export {fingerprint}`"
    )]
    ExportFailed { fingerprint: Fingerprint, gpg_message: String },
    #[error("gpg could not list the secret keys ({gpg_message}); check `gpg --list-secret-keys`")]
    ListFailed { gpg_message: String },
    #[error("gpg printed a key listing line mkaci cannot read: {line:?} ({reason})")]
    BadListing { line: String, reason: &'static str },
    #[error(
        "the signature {signature:?} does not match {file:?} (BAD signature from key {key_id}): \
         the image was changed after signing, or the .asc belongs to another image; rebuild and \
         run postprocess.sh again"
    )]
    BadSignature { signature: PathBuf, file: PathBuf, key_id: String },
    #[error(
        "cannot check {signature:?}: the signer's public key {key_id} is not in your keyring; \
         import it with `gpg --import DIR/pubkeys.gpg` (written by mkaci postprocess)"
    )]
    NoPublicKey { signature: PathBuf, key_id: String },
    #[error("gpg could not verify {signature:?} over {file:?} ({gpg_message}); run `gpg --verify` on them by hand to see why")]
    VerifyFailed { signature: PathBuf, file: PathBuf, gpg_message: String },
}

/// An OpenPGP fingerprint: 40 (v4) or 64 (v5) uppercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

/// Why a string is not a [`Fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("fingerprint {value:?} has {len} characters; expected 40 or 64 hex digits")]
    InvalidLength { value: String, len: usize },
    #[error("fingerprint {value:?} has {ch:?} at position {pos}; only hex digits are allowed")]
    InvalidChar { value: String, ch: char, pos: usize },
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 40 && s.len() != 64 {
            return Err(FingerprintError::InvalidLength { value: s.into(), len: s.len() });
        }
        if let Some((pos, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(FingerprintError::InvalidChar { value: s.into(), ch, pos });
        }
        Ok(Fingerprint(s.to_ascii_uppercase()))
    }
}

impl Fingerprint {
    /// Uppercase hex, as gpg prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// OpenPGP public-key algorithm IDs (RFC 4880 §9.1, RFC 9580 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubkeyAlgo {
    /// 1, 2, 3
    Rsa,
    /// 17
    Dsa,
    /// 19
    Ecdsa,
    /// 22 (Ed25519 and friends in GnuPG's legacy form), 27 and 28 (RFC 9580 Ed25519/Ed448)
    Eddsa,
    /// Anything else: Elgamal (16, 20), ECDH (18), X25519 (25), ...
    Other(u8),
}

impl PubkeyAlgo {
    pub fn from_id(id: u8) -> Self {
        match id {
            1..=3 => PubkeyAlgo::Rsa,
            17 => PubkeyAlgo::Dsa,
            19 => PubkeyAlgo::Ecdsa,
            22 | 27 | 28 => PubkeyAlgo::Eddsa,
            other => PubkeyAlgo::Other(other),
        }
    }

    /// rkt's verifier (Go's `x/crypto/openpgp`) knows only RSA, DSA and ECDSA
    /// (appc.md §5).
    pub fn rkt_can_verify(self) -> bool {
        matches!(self, PubkeyAlgo::Rsa | PubkeyAlgo::Dsa | PubkeyAlgo::Ecdsa)
    }
}

impl fmt::Display for PubkeyAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubkeyAlgo::Rsa => f.write_str("RSA"),
            PubkeyAlgo::Dsa => f.write_str("DSA"),
            PubkeyAlgo::Ecdsa => f.write_str("ECDSA"),
            PubkeyAlgo::Eddsa => f.write_str("EdDSA"),
            PubkeyAlgo::Other(id) => write!(f, "algorithm {id}"),
        }
    }
}

/// One secret key (a `sec` record and what follows it) from
/// `gpg --with-colons --list-secret-keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub fingerprint: Fingerprint,
    /// Algorithm of the primary key.
    pub algo: PubkeyAlgo,
    /// Field 2: `e` expired, `r` revoked, `d` disabled, `i` invalid, ...
    pub validity: char,
    /// Field 12 has `S`: the key as a whole (primary or a subkey) can sign now.
    pub can_sign: bool,
    pub user_ids: Vec<String>,
    /// Algorithms of the subkeys (and primary) marked `s` (sign) in field 12.
    pub signing_algos: Vec<PubkeyAlgo>,
}

impl SecretKey {
    /// The first user ID, or the fingerprint when there is none.
    pub fn label(&self) -> String {
        match self.user_ids.first() {
            Some(uid) => format!("{} ({uid})", self.fingerprint),
            None => self.fingerprint.to_string(),
        }
    }
}

/// Parses `gpg --with-colons --list-secret-keys` output (GnuPG `doc/DETAILS`).
pub fn parse_secret_keys(listing: &str) -> Result<Vec<SecretKey>, GpgError> {
    let bad = |line: &str, reason| GpgError::BadListing { line: line.into(), reason };
    let mut keys: Vec<SecretKey> = Vec::new();
    // Which record the next `fpr` line belongs to: the primary (`sec`) or a subkey.
    let mut fpr_for_primary = false;
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[0] {
            "sec" | "ssb" => {
                if fields.len() < 12 {
                    return Err(bad(line, "a key record needs at least 12 fields"));
                }
                let algo = fields[3]
                    .parse::<u8>()
                    .map(PubkeyAlgo::from_id)
                    .map_err(|_| bad(line, "field 4 (algorithm) is not a number"))?;
                let caps = fields[11];
                if fields[0] == "sec" {
                    keys.push(SecretKey {
                        // Filled by the following `fpr` record.
                        fingerprint: Fingerprint(String::new()),
                        algo,
                        validity: fields[1].chars().next().unwrap_or('-'),
                        can_sign: caps.contains('S'),
                        user_ids: Vec::new(),
                        signing_algos: Vec::new(),
                    });
                    fpr_for_primary = true;
                } else {
                    fpr_for_primary = false;
                }
                let key = keys.last_mut().ok_or_else(|| bad(line, "subkey before any sec record"))?;
                let usable = !matches!(fields[1], "e" | "r" | "d" | "i" | "n");
                if caps.contains('s') && usable {
                    key.signing_algos.push(algo);
                }
            }
            "fpr" if fpr_for_primary => {
                let value = fields.get(9).ok_or_else(|| bad(line, "fpr record without field 10"))?;
                let fpr = value.parse::<Fingerprint>().map_err(|_| bad(line, "field 10 is not a fingerprint"))?;
                let key = keys.last_mut().ok_or_else(|| bad(line, "fpr before any sec record"))?;
                key.fingerprint = fpr;
                fpr_for_primary = false;
            }
            "uid" => {
                if let (Some(key), Some(uid)) = (keys.last_mut(), fields.get(9)) {
                    key.user_ids.push(unescape_colons(uid));
                }
            }
            _ => {}
        }
    }
    if let Some(key) = keys.iter().find(|k| k.fingerprint.0.is_empty()) {
        return Err(GpgError::BadListing {
            line: format!("sec:{}:..:{}:..", key.validity, key.algo),
            reason: "sec record without a following fpr record",
        });
    }
    Ok(keys)
}

/// `--with-colons` escapes `:` and control characters as `\xNN`.
fn unescape_colons(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let Some(v) = hex_byte(b[i + 2], b[i + 3]) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A detached signature made by [`Gpg::sign_detached`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSignature {
    /// The ASCII-armored signature, ready to be written as `NAME.aci.asc`.
    pub armored: Vec<u8>,
    /// The key (or subkey) that made it, from the `SIG_CREATED` status line.
    pub signer: Fingerprint,
    /// Its algorithm, from the same line.
    pub algo: PubkeyAlgo,
}

/// A good signature reported by [`Gpg::verify_detached`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodSignature {
    /// The signing (sub)key's fingerprint (`VALIDSIG` field 1).
    pub signer: Fingerprint,
    /// The primary key's fingerprint (`VALIDSIG` last field).
    pub primary: Fingerprint,
    /// The user ID gpg shows (`GOODSIG`).
    pub user_id: String,
    pub algo: PubkeyAlgo,
}

/// A located gpg program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpg {
    program: PathBuf,
}

/// Result of one gpg run: status lines (without the `[GNUPG:] ` prefix) and
/// gpg's human-readable `gpg: ...` lines.
struct Run {
    success: bool,
    stdout: Vec<u8>,
    status: Vec<String>,
    messages: Vec<String>,
}

impl Run {
    fn status(&self, keyword: &str) -> Option<Vec<&str>> {
        self.status.iter().find_map(|line| {
            let mut words = line.split(' ');
            (words.next() == Some(keyword)).then(|| words.collect())
        })
    }

    /// gpg's last error line, without the `gpg: ` prefix, for messages.
    fn message(&self) -> String {
        let last = self.messages.iter().rev().find(|m| !m.trim().is_empty());
        match last {
            Some(m) => m.strip_prefix("gpg: ").unwrap_or(m).trim().to_string(),
            None => "gpg gave no reason".to_string(),
        }
    }
}

impl Gpg {
    /// Uses `program` when given (`--gpg` / `MKACI_GPG`), else the first of
    /// `gpg2`, `gpg` on `PATH`.
    pub fn locate(program: Option<&Path>) -> Result<Gpg, GpgError> {
        Self::locate_in(program, std::env::var_os("PATH").as_deref())
    }

    /// [`Gpg::locate`] with an explicit `PATH` value.
    pub fn locate_in(program: Option<&Path>, path_var: Option<&OsStr>) -> Result<Gpg, GpgError> {
        if let Some(p) = program {
            // A bare name is looked up on PATH like a shell would.
            if p.components().count() == 1 && !p.is_absolute() {
                if let Some(found) = find_on_path(p.as_os_str(), path_var) {
                    return Ok(Gpg { program: found });
                }
            }
            if !is_executable(p) {
                return Err(GpgError::CannotRun {
                    program: p.to_path_buf(),
                    message: "no such executable file".into(),
                });
            }
            return Ok(Gpg { program: p.to_path_buf() });
        }
        for name in GPG_NAMES {
            if let Some(found) = find_on_path(OsStr::new(name), path_var) {
                return Ok(Gpg { program: found });
            }
        }
        Err(GpgError::NotFound { searched: path_var.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default() })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn run(&self, args: &[&OsStr]) -> Result<Run, GpgError> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("--batch").arg("--status-fd").arg("2").args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // pinentry-curses needs to know the terminal; gpg only tells the agent
        // when GPG_TTY is set (GnuPG manual, "Invoking GPG-AGENT").
        if std::env::var_os("GPG_TTY").is_none() && std::io::stdin().is_terminal() {
            if let Ok(tty) = std::fs::read_link("/proc/self/fd/0") {
                cmd.env("GPG_TTY", tty);
            }
        }
        let out: Output =
            cmd.output().map_err(|e| GpgError::CannotRun { program: self.program.clone(), message: e.to_string() })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut status = Vec::new();
        let mut messages = Vec::new();
        for line in stderr.lines() {
            match line.strip_prefix("[GNUPG:] ") {
                Some(s) => status.push(s.to_string()),
                None => messages.push(line.to_string()),
            }
        }
        Ok(Run { success: out.status.success(), stdout: out.stdout, status, messages })
    }

    /// The secret keys gpg has, or those matching `key`.
    pub fn secret_keys(&self, key: Option<&str>) -> Result<Vec<SecretKey>, GpgError> {
        let mut args: Vec<&OsStr> = vec!["--with-colons".as_ref(), "--list-secret-keys".as_ref()];
        if let Some(k) = key {
            args.push("--".as_ref());
            args.push(k.as_ref());
        }
        let run = self.run(&args)?;
        let keys = parse_secret_keys(&String::from_utf8_lossy(&run.stdout))?;
        if !run.success {
            if let Some(k) = key {
                if keys.is_empty() {
                    return Err(GpgError::NoSecretKeyMatching { key: k.into() });
                }
            }
            return Err(GpgError::ListFailed { gpg_message: run.message() });
        }
        Ok(keys)
    }

    /// Checks, before anything is written, that gpg has a secret key able to
    /// sign: the one matching `key`, or else any (gpg then uses its default key).
    /// Returns the candidate keys.
    pub fn check_signing_key(&self, key: Option<&str>) -> Result<Vec<SecretKey>, GpgError> {
        let keys = self.secret_keys(key)?;
        if keys.is_empty() {
            return Err(match key {
                Some(k) => GpgError::NoSecretKeyMatching { key: k.into() },
                None => GpgError::NoSecretKey { gnupghome: gnupghome() },
            });
        }
        if !keys.iter().any(|k| k.can_sign) {
            let keys = keys.iter().map(SecretKey::label).collect::<Vec<_>>().join(", ");
            return Err(GpgError::NoUsableSigningKey { keys });
        }
        Ok(keys)
    }

    /// `gpg --armor --detach-sign` over `file`, with `--local-user key` when
    /// given. The signature comes back in memory; nothing is written to disk.
    pub fn sign_detached(&self, file: &Path, key: Option<&str>) -> Result<DetachedSignature, GpgError> {
        let mut args: Vec<&OsStr> =
            vec!["--yes".as_ref(), "--armor".as_ref(), "--detach-sign".as_ref(), "--output".as_ref(), "-".as_ref()];
        if let Some(k) = key {
            args.push("--local-user".as_ref());
            args.push(k.as_ref());
        }
        args.push("--".as_ref());
        args.push(file.as_os_str());
        let run = self.run(&args)?;
        if !run.success {
            return Err(classify_sign_failure(&run, file, key));
        }
        let created = run.status("SIG_CREATED").ok_or_else(|| GpgError::NoSignatureStatus { file: file.into() })?;
        // SIG_CREATED <type> <pk_algo> <hash_algo> <class> <timestamp> <keyfpr>
        let algo = created.get(1).and_then(|a| a.parse::<u8>().ok()).map(PubkeyAlgo::from_id);
        let signer = created.get(5).and_then(|f| f.parse::<Fingerprint>().ok());
        match (algo, signer) {
            (Some(algo), Some(signer)) if run.stdout.starts_with(b"-----BEGIN PGP SIGNATURE-----") => {
                Ok(DetachedSignature { armored: run.stdout, signer, algo })
            }
            _ => Err(GpgError::NoSignatureStatus { file: file.into() }),
        }
    }

    /// The ASCII-armored public keys with these fingerprints (a subkey's
    /// fingerprint exports its whole key).
    pub fn export_public(&self, fingerprint: &Fingerprint) -> Result<Vec<u8>, GpgError> {
        let args: Vec<&OsStr> =
            vec!["--armor".as_ref(), "--export".as_ref(), "--".as_ref(), fingerprint.as_str().as_ref()];
        let run = self.run(&args)?;
        if !run.success || !run.stdout.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            return Err(GpgError::ExportFailed { fingerprint: fingerprint.clone(), gpg_message: run.message() });
        }
        Ok(run.stdout)
    }

    /// `gpg --verify signature file` against the user's keyring.
    pub fn verify_detached(&self, signature: &Path, file: &Path) -> Result<GoodSignature, GpgError> {
        let args: Vec<&OsStr> = vec!["--verify".as_ref(), "--".as_ref(), signature.as_os_str(), file.as_os_str()];
        let run = self.run(&args)?;
        let key_id =
            |fields: Option<Vec<&str>>| fields.and_then(|f| f.first().map(|s| s.to_string())).unwrap_or_default();
        if run.status("BADSIG").is_some() {
            return Err(GpgError::BadSignature {
                signature: signature.into(),
                file: file.into(),
                key_id: key_id(run.status("BADSIG")),
            });
        }
        if run.status("NO_PUBKEY").is_some() {
            return Err(GpgError::NoPublicKey { signature: signature.into(), key_id: key_id(run.status("NO_PUBKEY")) });
        }
        let failed = |run: &Run| GpgError::VerifyFailed {
            signature: signature.into(),
            file: file.into(),
            gpg_message: run.message(),
        };
        // Exactly one signature, and it is good.
        let sigs = run.status.iter().filter(|l| l.starts_with("NEWSIG")).count();
        if !run.success || sigs != 1 {
            return Err(failed(&run));
        }
        let (Some(good), Some(valid)) = (run.status("GOODSIG"), run.status("VALIDSIG")) else {
            return Err(failed(&run));
        };
        // VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk_algo> <hash> <class> [<primary fpr>]
        let signer = valid.first().and_then(|f| f.parse::<Fingerprint>().ok());
        let algo = valid.get(6).and_then(|a| a.parse::<u8>().ok()).map(PubkeyAlgo::from_id);
        let primary = valid.get(9).and_then(|f| f.parse::<Fingerprint>().ok());
        match (signer, algo) {
            (Some(signer), Some(algo)) => Ok(GoodSignature {
                primary: primary.unwrap_or_else(|| signer.clone()),
                signer,
                user_id: unescape_percent(&good.get(1..).map(|w| w.join(" ")).unwrap_or_default()),
                algo,
            }),
            _ => Err(failed(&run)),
        }
    }
}

/// Status-line text escapes `%`, CR and LF as `%XX`.
fn unescape_percent(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = hex_byte(b[i + 1], b[i + 2]) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    Some(d(hi)? << 4 | d(lo)?)
}

/// Sorts a failed signing run into "no key", "cannot unlock" or "other".
///
/// gpg prints `INV_SGNR` (and `FAILURE sign 17`, `GPG_ERR_NO_SECKEY`) when it
/// finds no usable key. Once it prints `BEGIN_SIGNING` it has chosen the key,
/// so a failure after that is the agent failing to use the secret key: no
/// pinentry, a bad or cancelled passphrase, a missing smartcard.
fn classify_sign_failure(run: &Run, file: &Path, key: Option<&str>) -> GpgError {
    let code = run.status("FAILURE").and_then(|f| f.get(1).and_then(|c| c.parse::<u32>().ok())).map(|c| c & 0xffff);
    if run.status("INV_SGNR").is_some() || (code == Some(17) && run.status("BEGIN_SIGNING").is_none()) {
        return match key {
            Some(k) => GpgError::NoSecretKeyMatching { key: k.into() },
            None => GpgError::NoSecretKey { gnupghome: gnupghome() },
        };
    }
    if run.status("BEGIN_SIGNING").is_some() || run.status("PINENTRY_LAUNCHED").is_some() {
        return GpgError::CannotUnlock { file: file.into(), gpg_message: run.message() };
    }
    GpgError::SignFailed { file: file.into(), gpg_message: run.message() }
}

fn gnupghome() -> String {
    match std::env::var_os("GNUPGHOME") {
        Some(h) => h.to_string_lossy().into_owned(),
        None => "~/.gnupg".into(),
    }
}

fn find_on_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let path_var: OsString = path_var?.to_os_string();
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "sec:u:3072:1:93E06763A0402CA2:1795356711:::u:::scSC:::+:::23::0:
fpr:::::::::F602CA20B73E4CAF04BBE43793E06763A0402CA2:
grp:::::::::41B6A2B808654933659ED2ACC321FBB2DC0150A3:
uid:u::::1795356711::F0425EA166BD8291FE2CECDB53F85B6B21757F54::T <t\\x3ax@x>::::::::::0:
";
    const ED_WITH_SUBKEY: &str = "sec:u:3072:1:93E06763A0402CA2:1795356711:::u:::cSC:::+:::23::0:
fpr:::::::::F602CA20B73E4CAF04BBE43793E06763A0402CA2:
uid:u::::1795356711::F0425EA166BD8291FE2CECDB53F85B6B21757F54::A <a@x>::::::::::0:
ssb:u:255:22:B0549DA0197C87F3:1795356757::::::s:::+::ed25519::
fpr:::::::::CCE9DFD2A397C982A223EB8DB0549DA0197C87F3:
ssb:e:3072:1:1111111111111111:1795356757::::::s:::+::::
fpr:::::::::1111111111111111111111111111111111111111:
";

    #[test]
    fn parses_rsa_key() {
        let keys = parse_secret_keys(RSA).unwrap();
        assert_eq!(
            keys,
            vec![SecretKey {
                fingerprint: "F602CA20B73E4CAF04BBE43793E06763A0402CA2".parse().unwrap(),
                algo: PubkeyAlgo::Rsa,
                validity: 'u',
                can_sign: true,
                user_ids: vec!["T <t:x@x>".into()],
                signing_algos: vec![PubkeyAlgo::Rsa],
            }]
        );
    }

    #[test]
    fn subkey_fingerprint_does_not_replace_primary_and_expired_subkeys_are_skipped() {
        let keys = parse_secret_keys(ED_WITH_SUBKEY).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].fingerprint.as_str(), "F602CA20B73E4CAF04BBE43793E06763A0402CA2");
        assert_eq!(keys[0].signing_algos, vec![PubkeyAlgo::Eddsa]);
        assert!(keys[0].can_sign);
    }

    #[test]
    fn listing_errors() {
        let cases: &[(&str, &str)] = &[
            ("sec:u:3072:x:93E0:1::::::scSC", "field 4 (algorithm) is not a number"),
            ("sec:u:3072:1", "a key record needs at least 12 fields"),
            ("ssb:u:255:22:B054:1::::::s", "subkey before any sec record"),
            ("sec:u:3072:1:93E0:1::::::scSC\nfpr:::::::::XYZ:", "field 10 is not a fingerprint"),
            ("sec:u:3072:1:93E0:1::::::scSC", "sec record without a following fpr record"),
        ];
        for (input, want) in cases {
            match parse_secret_keys(input) {
                Err(GpgError::BadListing { reason, .. }) => assert_eq!(reason, *want, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        assert_eq!(parse_secret_keys("").unwrap(), vec![]);
    }

    #[test]
    fn fingerprint_parse() {
        assert_eq!(
            "f602ca20b73e4caf04bbe43793e06763a0402ca2".parse::<Fingerprint>().unwrap().as_str(),
            "F602CA20B73E4CAF04BBE43793E06763A0402CA2"
        );
        assert_eq!("AB".parse::<Fingerprint>(), Err(FingerprintError::InvalidLength { value: "AB".into(), len: 2 }));
        let g = format!("G{}", "0".repeat(39));
        assert_eq!(g.parse::<Fingerprint>(), Err(FingerprintError::InvalidChar { value: g.clone(), ch: 'G', pos: 0 }));
    }

    fn run_with(status: &[&str], messages: &[&str]) -> Run {
        Run {
            success: false,
            stdout: Vec::new(),
            status: status.iter().map(|s| s.to_string()).collect(),
            messages: messages.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Status lines captured from gpg 2.2.40 in each situation.
    #[test]
    fn sign_failures_are_classified() {
        let f = Path::new("x.aci");
        let no_key = run_with(&["INV_SGNR 9", "FAILURE sign 17"], &["gpg: signing failed: No secret key"]);
        assert_eq!(classify_sign_failure(&no_key, f, None), GpgError::NoSecretKey { gnupghome: gnupghome() });
        assert_eq!(classify_sign_failure(&no_key, f, Some("k")), GpgError::NoSecretKeyMatching { key: "k".into() });
        let no_pinentry = run_with(
            &["KEY_CONSIDERED F6 0", "BEGIN_SIGNING H10", "FAILURE sign 67108949"],
            &["gpg: signing failed: No pinentry"],
        );
        assert_eq!(
            classify_sign_failure(&no_pinentry, f, None),
            GpgError::CannotUnlock { file: f.into(), gpg_message: "signing failed: No pinentry".into() }
        );
        let no_tty = run_with(
            &["BEGIN_SIGNING H10", "PINENTRY_LAUNCHED 9232 curses 1.2.1 - xterm - - 0/0 -", "FAILURE sign 83918950"],
            &["gpg: signing failed: Inappropriate ioctl for device"],
        );
        assert!(matches!(classify_sign_failure(&no_tty, f, None), GpgError::CannotUnlock { .. }));
        let other = run_with(&["FAILURE sign 1"], &["gpg: x.aci: read error"]);
        assert_eq!(
            classify_sign_failure(&other, f, None),
            GpgError::SignFailed { file: f.into(), gpg_message: "x.aci: read error".into() }
        );
    }

    #[test]
    fn status_text_unescapes() {
        assert_eq!(unescape_percent("a%25b%0Ac"), "a%b\nc");
        assert_eq!(unescape_colons("a\\x3ab"), "a:b");
        assert_eq!(unescape_colons("ü\\x"), "ü\\x");
    }

    #[test]
    fn algos() {
        assert_eq!(PubkeyAlgo::from_id(1), PubkeyAlgo::Rsa);
        assert_eq!(PubkeyAlgo::from_id(22), PubkeyAlgo::Eddsa);
        assert!(!PubkeyAlgo::Eddsa.rkt_can_verify());
        assert!(PubkeyAlgo::from_id(19).rkt_can_verify());
        assert_eq!(PubkeyAlgo::from_id(18), PubkeyAlgo::Other(18));
    }

    #[test]
    fn locate_prefers_gpg2_then_gpg_and_override_wins() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let mk = |p: &Path| {
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        mk(&a.join("gpg"));
        mk(&b.join("gpg2"));
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(Gpg::locate_in(None, Some(&path)).unwrap().program(), b.join("gpg2"));
        let only_a = a.as_os_str();
        assert_eq!(Gpg::locate_in(None, Some(only_a)).unwrap().program(), a.join("gpg"));
        let empty = dir.path().join("empty");
        assert_eq!(
            Gpg::locate_in(None, Some(empty.as_os_str())),
            Err(GpgError::NotFound { searched: empty.to_string_lossy().into_owned() })
        );
        let over = dir.path().join("mygpg");
        mk(&over);
        assert_eq!(Gpg::locate_in(Some(&over), Some(&path)).unwrap().program(), over);
        let missing = dir.path().join("nope");
        assert!(matches!(Gpg::locate_in(Some(&missing), Some(&path)), Err(GpgError::CannotRun { .. })));
    }
}
