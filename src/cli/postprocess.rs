//! `mkaci postprocess [OPTIONS] [--] DIR RESULT...`, run by `result/postprocess.sh`.

use std::path::PathBuf;

use mkaci::postprocess::{postprocess, Options, Placement};

#[derive(clap::Args, Debug)]
pub(crate) struct PostprocessArgs {
    /// gpg program to sign with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    gpg: Option<PathBuf>,
    /// Key to sign with: fingerprint, key ID or user ID, as for gpg --local-user
    /// [default: gpg's default key]
    #[arg(long, env = "MKACI_SIGN_KEY", value_name = "KEYID")]
    key: Option<String>,
    /// Copy the images into DIR instead of linking them (and registering the
    /// links as GC roots); the copies survive any garbage collection
    #[arg(long)]
    copy: bool,
    /// nix-store program that registers the links as GC roots [default: nix-store on PATH]
    #[arg(long, env = "MKACI_NIX_STORE", value_name = "PATH")]
    nix_store: Option<PathBuf>,
    /// Directory to publish into; created if missing
    dir: PathBuf,
    /// nix2aci results (what nix-build printed, e.g. ./result)
    #[arg(required = true, value_name = "RESULT")]
    results: Vec<PathBuf>,
}

/// Publishes, then prints what was done and what to run next.
pub(crate) fn run(args: PostprocessArgs) -> anyhow::Result<()> {
    let options = Options {
        // An empty MKACI_GPG / MKACI_SIGN_KEY / MKACI_NIX_STORE means "not set".
        gpg: args.gpg.filter(|g| !g.as_os_str().is_empty()),
        key: args.key.filter(|k| !k.is_empty()),
        copy: args.copy,
        nix_store: args.nix_store.filter(|n| !n.as_os_str().is_empty()),
    };
    let report = postprocess(&args.dir, &args.results, &options)?;
    for w in &report.warnings {
        eprintln!("mkaci: warning: {w}");
    }
    for p in &report.published {
        match p.placement {
            Placement::Copy => println!("Copied {} to {}", p.target.display(), p.aci.display()),
            Placement::Link { gc_root: true } => {
                println!("Linked {} -> {} (a GC root)", p.aci.display(), p.target.display())
            }
            Placement::Link { gc_root: false } => println!("Linked {} -> {}", p.aci.display(), p.target.display()),
        }
        if let Some(m) = &p.mounts {
            println!("Published {}", m.display());
        }
        if let Some(sbom) = &p.sbom {
            println!("Published {} (the closure SBOM)", sbom.display());
        }
        match &p.signature {
            Some((asc, signer)) => println!("Signed {} with key {signer}", asc.display()),
            None => println!("Not signed (sign = false): {}", p.aci.display()),
        }
    }
    for p in &report.oci {
        match p.placement {
            Placement::Copy => println!("Copied {} to {}", p.target.display(), p.layout.display()),
            Placement::Link { gc_root: true } => {
                println!("Linked {} -> {} (a GC root)", p.layout.display(), p.target.display())
            }
            Placement::Link { gc_root: false } => println!("Linked {} -> {}", p.layout.display(), p.target.display()),
        }
        if let Some(sbom) = &p.sbom {
            println!("Published {} (the closure SBOM)", sbom.display());
        }
        println!(
            "Wrote {} ({}, image ID {}; OCI images are not signed)",
            p.docker_archive.display(),
            p.reference(),
            p.image_id
        );
    }
    if let Some((path, keys)) = &report.pubkey {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        println!("Exported public key {} to {}", keys.join(", "), path.display());
    }
    // The verify command names this very mkaci, which need not be on PATH.
    let mkaci = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mkaci"));
    println!("Next:");
    for cmd in report.next_commands(&mkaci).into_iter().chain(report.oci_next_commands()) {
        println!("  {cmd}");
    }
    Ok(())
}
