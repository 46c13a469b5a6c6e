//! `mkaci postprocess [--gpg PATH] [--key KEYID] [--] DIR RESULT...`: the step
//! outside the sandbox that signs a result's images with the user's gpg and
//! publishes them into DIR (`ACIs/` from `result/postprocess.sh`), ready for
//! `rkt trust` and `rkt run` (appc.md §5, docs/result-layout.md).
//!
//! For each image of each RESULT's `nix2aci.json` it makes, in DIR:
//! - `<image>.aci`, a symlink to the image in the store;
//! - `<image>.mounts`, a symlink to the store's `.mounts`, for thin images (a
//!   stale one is removed when the same file name is republished fat);
//! - `<image>.aci.asc`, the ASCII-armored detached signature, unless the image
//!   was built with `sign = false`;
//! - [`PUBKEY_FILE`] (`pubkeys.gpg`), the armored public key of the key that
//!   signed in this run: `rkt trust --prefix=<name> DIR/pubkeys.gpg`. The name
//!   is the one appc meta discovery serves (`ac-discovery-pubkeys`), so DIR can
//!   be served as a discovery site as is.
//!
//! Order, and what a failure leaves behind:
//! 1. Every RESULT is read and checked, DIR is created and probed, and (when an
//!    image is to be signed) gpg and a secret key are found.
//! 2. Every signature is made, in memory, and the public key exported.
//! 3. Only then is DIR written: per image the `.mounts` link, the `.aci` link
//!    and the `.asc`, each under a hidden temporary name renamed into place.
//!
//! So any gpg failure (no gpg, no key, agent cannot unlock it) exits before
//! DIR is touched: no partial or stale `.asc` appears, and the files of
//! earlier runs stay as they were. An earlier `.asc` of an image that is not
//! re-linked still belongs to the image its `.aci` points to. When the `.aci`
//! link is about to point at a different image (or the image is
//! `sign = false`), the old `.asc` is deleted *before* the link is replaced
//! and the new one renamed in right after, so a signature of another image is
//! never left next to it: at worst (a crash in between) the image has no
//! `.asc` and rkt refuses it as unsigned.
//! Re-running is idempotent: links are replaced and images signed again.

mod fsops;
pub mod index;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sign::{DetachedSignature, Fingerprint, Gpg, GpgError, PubkeyAlgo};
pub use index::{IndexError, IndexedImage, ResultIndex};

/// The public key file written into DIR.
pub const PUBKEY_FILE: &str = "pubkeys.gpg";

/// Why postprocess failed. Each message names the cause and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostprocessError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(
        "two results publish the same file {file:?}: {first:?} and {second:?}; publish them \
         into different directories (the first argument of postprocess.sh)"
    )]
    DuplicateImage { file: String, first: PathBuf, second: PathBuf },
    #[error(
        "cannot write to the output directory {dir:?}: {message}; choose another directory \
         (the first argument of postprocess.sh, e.g. ./result/postprocess.sh ~/ACIs) or fix \
         its permissions"
    )]
    DirNotWritable { dir: PathBuf, message: String },
    #[error("cannot write {path:?}: {message}; check the output directory and run postprocess.sh again")]
    WriteFailed { path: PathBuf, message: String },
}

/// Something worth telling the user that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The signature was made by a key rkt cannot verify.
    UnsupportedKeyAlgo { signer: Fingerprint, algo: PubkeyAlgo },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::UnsupportedKeyAlgo { signer, algo } => write!(
                f,
                "the signing key {signer} is {algo}; rkt only verifies RSA, DSA and ECDSA \
                 signatures, so `rkt run` will reject these images. Sign with an RSA key: \
                 --key <rsa key> or MKACI_SIGN_KEY"
            ),
        }
    }
}

/// One published image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub image: IndexedImage,
    /// `DIR/<image>.aci`
    pub aci: PathBuf,
    /// Where it points: the image in the store.
    pub target: PathBuf,
    /// `DIR/<image>.mounts` for thin images.
    pub mounts: Option<PathBuf>,
    /// `DIR/<image>.aci.asc` and the key that made it.
    pub signature: Option<(PathBuf, Fingerprint)>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub dir: PathBuf,
    pub published: Vec<Published>,
    /// `DIR/pubkeys.gpg` and the keys in it, when anything was signed.
    pub pubkey: Option<(PathBuf, Vec<Fingerprint>)>,
    pub warnings: Vec<Warning>,
}

/// Options of [`postprocess`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// gpg program; `None` finds `gpg2` or `gpg` on PATH.
    pub gpg: Option<PathBuf>,
    /// Key spec for `--local-user`; `None` uses gpg's default key.
    pub key: Option<String>,
}

/// Publishes the images of `results` into `dir`; see the module docs.
pub fn postprocess(dir: &Path, results: &[PathBuf], options: &Options) -> Result<Report, PostprocessError> {
    // 1. Read everything, check everything.
    let mut images: Vec<(PathBuf, IndexedImage)> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for result in results {
        let index = ResultIndex::read(result)?;
        for image in index.images {
            match seen.get(&image.file) {
                Some(first) if *first == index.dir => continue, // the same result given twice
                Some(first) => {
                    return Err(PostprocessError::DuplicateImage {
                        file: image.file,
                        first: first.clone(),
                        second: index.dir.clone(),
                    })
                }
                None => {
                    seen.insert(image.file.clone(), index.dir.clone());
                    images.push((index.dir.clone(), image));
                }
            }
        }
    }
    fsops::ensure_writable_dir(dir)
        .map_err(|e| PostprocessError::DirNotWritable { dir: dir.to_path_buf(), message: e.to_string() })?;

    // 2. Sign in memory.
    let key = options.key.as_deref();
    let mut signatures: Vec<Option<DetachedSignature>> = Vec::with_capacity(images.len());
    let mut warnings = Vec::new();
    let mut signers: Vec<Fingerprint> = Vec::new();
    let mut pubkeys: Vec<u8> = Vec::new();
    if images.iter().any(|(_, i)| i.sign) {
        let gpg = Gpg::locate(options.gpg.as_deref())?;
        gpg.check_signing_key(key)?;
        for (result_dir, image) in &images {
            if !image.sign {
                signatures.push(None);
                continue;
            }
            let sig = gpg.sign_detached(&result_dir.join(&image.file), key)?;
            if !signers.contains(&sig.signer) {
                if !sig.algo.rkt_can_verify() {
                    warnings.push(Warning::UnsupportedKeyAlgo { signer: sig.signer.clone(), algo: sig.algo });
                }
                pubkeys.extend(gpg.export_public(&sig.signer)?);
                signers.push(sig.signer.clone());
            }
            signatures.push(Some(sig));
        }
    } else {
        signatures.resize(images.len(), None);
    }

    // 3. Write DIR.
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| PostprocessError::WriteFailed { path, message: e.to_string() }
    };
    let mut published = Vec::with_capacity(images.len());
    for ((result_dir, image), sig) in images.into_iter().zip(signatures) {
        let aci = dir.join(&image.file);
        let asc = dir.join(format!("{}.asc", image.file));
        let target = result_dir.join(&image.file);
        // An old `.asc` that belongs to another image goes before the link
        // changes, so it is never next to an image it does not sign.
        let relinks = std::fs::read_link(&aci).ok().as_deref() != Some(target.as_path());
        if sig.is_none() || relinks {
            fsops::remove_if_exists(&asc).map_err(write_err(&asc))?;
        }
        let mounts = match &image.mounts {
            Some(m) => {
                let link = dir.join(m);
                fsops::replace_symlink(&result_dir.join(m), &link).map_err(write_err(&link))?;
                Some(link)
            }
            None => {
                // A `.mounts` link left by an earlier thin build of this file
                // name would hand rkt volumes the fat image does not declare.
                let base = image.file.strip_suffix(".aci").unwrap_or(&image.file);
                let stale = dir.join(format!("{base}.mounts"));
                if stale.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
                    fsops::remove_if_exists(&stale).map_err(write_err(&stale))?;
                }
                None
            }
        };
        fsops::replace_symlink(&target, &aci).map_err(write_err(&aci))?;
        let signature = match sig {
            Some(sig) => {
                fsops::replace_file(&asc, &sig.armored).map_err(write_err(&asc))?;
                Some((asc, sig.signer))
            }
            None => None,
        };
        published.push(Published { image, aci, target, mounts, signature });
    }
    let pubkey = if signers.is_empty() {
        None
    } else {
        let path = dir.join(PUBKEY_FILE);
        fsops::replace_file(&path, &pubkeys).map_err(write_err(&path))?;
        Some((path, signers))
    };
    Ok(Report { dir: dir.to_path_buf(), published, pubkey, warnings })
}

impl Report {
    /// The commands to run next: one `rkt trust` per image name, one `rkt run`
    /// per image (with the volumes of a thin image).
    pub fn next_commands(&self) -> Vec<String> {
        let mut cmds = Vec::new();
        if let Some((keyfile, _)) = &self.pubkey {
            let mut names: Vec<&str> =
                self.published.iter().filter(|p| p.signature.is_some()).map(|p| p.image.name.as_str()).collect();
            names.sort();
            names.dedup();
            for name in names {
                cmds.push(format!("sudo rkt trust --prefix={} {}", shell_quote(name), shell_quote_path(keyfile)));
            }
        }
        for p in &self.published {
            let mut cmd = String::from("sudo rkt run");
            if p.signature.is_none() {
                cmd.push_str(" --insecure-options=image");
            }
            if let Some(m) = &p.mounts {
                cmd.push_str(&format!(" $(cat {})", shell_quote_path(m)));
            }
            cmd.push(' ');
            cmd.push_str(&shell_quote_path(&p.aci));
            cmds.push(cmd);
        }
        cmds
    }
}

fn shell_quote_path(p: &Path) -> String {
    shell_quote(&p.to_string_lossy())
}

/// Quotes `s` for a POSIX shell when it has anything but safe characters.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=,+@%~".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `mkaci postprocess` arguments.
#[derive(clap::Args, Debug)]
pub struct PostprocessArgs {
    /// gpg program to sign with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    pub gpg: Option<PathBuf>,
    /// Key to sign with: fingerprint, key ID or user ID, as for gpg --local-user
    /// [default: gpg's default key]
    #[arg(long, env = "MKACI_SIGN_KEY", value_name = "KEYID")]
    pub key: Option<String>,
    /// Directory to publish into; created if missing
    pub dir: PathBuf,
    /// nix2aci results (what nix-build printed, e.g. ./result)
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
}

/// Runs `mkaci postprocess` and prints what was done and what to run next.
pub fn run(args: PostprocessArgs) -> anyhow::Result<()> {
    let options = Options {
        // An empty MKACI_GPG / MKACI_SIGN_KEY means "not set".
        gpg: args.gpg.filter(|g| !g.as_os_str().is_empty()),
        key: args.key.filter(|k| !k.is_empty()),
    };
    let report = postprocess(&args.dir, &args.results, &options)?;
    for w in &report.warnings {
        eprintln!("mkaci: warning: {w}");
    }
    for p in &report.published {
        println!("Linked {} -> {}", p.aci.display(), p.target.display());
        if let Some(m) = &p.mounts {
            println!("Linked {}", m.display());
        }
        match &p.signature {
            Some((asc, signer)) => println!("Signed {} with key {signer}", asc.display()),
            None => println!("Not signed (sign = false): {}", p.aci.display()),
        }
    }
    if let Some((path, keys)) = &report.pubkey {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        println!("Exported public key {} to {}", keys.join(", "), path.display());
    }
    println!("Next:");
    for cmd in report.next_commands() {
        println!("  {cmd}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("ACIs/busybox-1.36.1-linux-amd64.aci"), "ACIs/busybox-1.36.1-linux-amd64.aci");
        assert_eq!(shell_quote("my dir/x"), "'my dir/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
