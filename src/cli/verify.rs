//! `mkaci verify DIR/<image>.aci`, or an OCI image: `DIR/<base>.oci`,
//! `DIR/<base>.docker.tar`.

use std::path::PathBuf;

use mkaci::check::verify::{expected_file_name, verify, PrefixTrust, TrustedBy};

fn parse_trust(value: &str) -> Result<PrefixTrust, String> {
    value.parse().map_err(|e: mkaci::check::verify::VerifyError| e.to_string())
}
use mkaci::publish::sign::Gpg;

#[derive(clap::Args, Debug)]
pub(crate) struct VerifyArgs {
    /// gpg program to verify with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    gpg: Option<PathBuf>,
    /// Trust the keys in KEYFILE (e.g. DIR/pubkeys.gpg) to sign images named
    /// PREFIX or below it, as `rkt trust --prefix` does; repeatable. Without
    /// it, only keys your gpg holds fully or ultimately valid are accepted
    #[arg(long, value_name = "PREFIX=KEYFILE", value_parser = parse_trust)]
    trust: Vec<PrefixTrust>,
    /// The published image, DIR/<image>.aci; its signature is DIR/<image>.aci.asc.
    /// Or an OCI image: DIR/<base>.oci (a layout) or DIR/<base>.docker.tar
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
}

/// Verifies, then prints what was checked.
pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<()> {
    mkaci::check::verify::check_present(&args.image)?;
    if mkaci::check::oci::is_oci_output(&args.image) {
        return run_oci(&args);
    }
    let gpg = Gpg::locate(args.gpg.as_deref().filter(|g| !g.as_os_str().is_empty()))?;
    let v = verify(&gpg, &args.image, &args.trust)?;
    let good = &v.signature.signature;
    out!("{}", args.image.display());
    let by = match &v.signature.trusted_by {
        TrustedBy::Keyring => format!("a key your keyring holds {}", good.trust),
        TrustedBy::Prefix(p) => format!("trusted for {} by --trust {}", p.prefix, p.keyfile.display()),
    };
    out!("  signature: good, from {} ({}, {}), {by}", good.user_id, good.primary, good.algo);
    out!(
        "  layout:    ok ({}, {} entries, {} bytes uncompressed)",
        v.report.compression,
        v.report.entries,
        v.report.tar_size
    );
    out!("  manifest:  ok ({} {})", v.manifest.name, v.manifest.label("version").unwrap_or("(no version)"));
    out!("  image ID:  {}", v.report.image_id);
    for recorded in &v.recorded_in {
        out!("             matches {}", recorded.display());
    }
    print_sbom(&v.sbom)?;
    if !v.dependencies.is_empty() {
        out!(
            "  dependencies: {} pinned, each present, signed, and of the pinned image ID and size",
            v.dependencies.len()
        );
        for d in &v.dependencies {
            out!("             {}", d.display());
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

/// An OCI image layout or docker-archive: not signed, so every digest is
/// checked instead.
fn run_oci(args: &VerifyArgs) -> anyhow::Result<()> {
    use mkaci::check::oci::{is_index_layout, verify_docker_archive, verify_layout};
    let layout = args.image.is_dir();
    if layout && is_index_layout(&args.image) {
        return run_oci_index(args);
    }
    let c = if layout { verify_layout(&args.image)? } else { verify_docker_archive(&args.image)? };
    out!("{}", args.image.display());
    out!("  signature: none: OCI images are not signed; their digests are checked instead");
    match c.manifest_digest {
        Some(m) => out!("  layout:    ok (tag {}, manifest {m}, every blob of its digest and size)", c.tag),
        None => out!("  archive:   ok ({}, every member of the digest its name gives)", c.tag),
    }
    out!(
        "  layers:    {} ok, each unpacking to its config diff_id ({} bytes stored, {} bytes of tar)",
        c.layers,
        c.layer_bytes,
        c.tar_bytes
    );
    out!("  image ID:  {} (the config's digest)", c.config_digest);
    if let Some(l) = &c.same_as_layout {
        out!("             the same as the layout {}", l.display());
    }
    print_sbom(&c.sbom)?;
    Ok(())
}

/// An image index layout (`<name>-<version>.oci`): the index, then each
/// platform's image with every digest checked.
fn run_oci_index(args: &VerifyArgs) -> anyhow::Result<()> {
    use mkaci::formats::oci::layout::platform_text;
    let c = mkaci::check::oci::verify_index_layout(&args.image)?;
    out!("{}", args.image.display());
    out!("  signature: none: OCI images are not signed; their digests are checked instead");
    out!("  index:     ok (tag {}, image index {}, {} platforms)", c.tag, c.index_digest, c.images.len());
    for (platform, i) in &c.images {
        out!(
            "  {}: manifest {} ok, config for the same platform; {} layers ok, each unpacking to its config diff_id ({} bytes stored, {} bytes of tar); image ID {}",
            platform_text(platform),
            i.manifest_digest.map(|d| d.to_string()).unwrap_or_default(),
            i.layers,
            i.layer_bytes,
            i.tar_bytes,
            i.config_digest
        );
        match &i.sbom {
            Some(sbom) => out!("    closure: {} matches the pinned {}", sbom.path.display(), sbom.pin),
            None => out!("    closure: no SBOM pinned"),
        }
    }
    Ok(())
}

/// The `closure:` line: the SBOM checked against the image's pin, or none.
fn print_sbom(sbom: &Option<mkaci::image::sbom::PinnedSbom>) -> anyhow::Result<()> {
    match sbom {
        Some(sbom) => out!("  closure:   {} matches the pinned {}", sbom.path.display(), sbom.pin),
        None => out!("  closure:   no SBOM pinned (the image was built by an mkaci without closure SBOMs)"),
    }
    Ok(())
}
