//! `mkaci verify DIR/<image>.aci`.

use std::path::PathBuf;

use mkaci::sign::Gpg;
use mkaci::verify::{expected_file_name, verify};

#[derive(clap::Args, Debug)]
pub(crate) struct VerifyArgs {
    /// gpg program to verify with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    gpg: Option<PathBuf>,
    /// The published image, DIR/<image>.aci; its signature is DIR/<image>.aci.asc
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
}

/// Verifies, then prints what was checked.
pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let gpg = Gpg::locate(args.gpg.as_deref().filter(|g| !g.as_os_str().is_empty()))?;
    let v = verify(&gpg, &args.image)?;
    let good = &v.signature;
    println!("{}", args.image.display());
    println!("  signature: good, from {} ({}, {})", good.user_id, good.primary, good.algo);
    println!(
        "  layout:    ok ({}, {} entries, {} bytes uncompressed)",
        v.report.compression, v.report.entries, v.report.tar_size
    );
    println!("  manifest:  ok ({} {})", v.manifest.name, v.manifest.label("version").unwrap_or("(no version)"));
    println!("  image ID:  {}", v.report.image_id);
    for recorded in &v.recorded_in {
        println!("             matches {}", recorded.display());
    }
    match &v.sbom {
        Some(sbom) => println!("  closure:   {} matches the pinned {}", sbom.path.display(), sbom.pin),
        None => println!("  closure:   no SBOM pinned (the image was built by an mkaci without closure SBOMs)"),
    }
    if !v.dependencies.is_empty() {
        println!(
            "  dependencies: {} pinned, each present, signed, and of the pinned image ID and size",
            v.dependencies.len()
        );
        for d in &v.dependencies {
            println!("             {}", d.display());
        }
    }
    if !good.algo.rkt_can_verify() {
        eprintln!(
            "mkaci: warning: the signature is {}; rkt only verifies RSA, DSA and ECDSA signatures, \
             so `rkt run` will reject this image. Re-sign with an RSA key (postprocess --key)",
            good.algo
        );
    }
    let actual = args.image.file_name().map(|n| n.to_string_lossy().into_owned());
    if let (Some(want), Some(actual)) = (expected_file_name(&v.manifest), actual) {
        if want.as_str() != actual {
            eprintln!(
                "mkaci: warning: the file is named {actual:?} but its manifest says {want:?}; \
                 rkt discovery looks for the latter"
            );
        }
    }
    Ok(())
}
