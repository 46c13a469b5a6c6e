//! `mkaci inspect IMAGE [--verify] [--sbom]`.

use std::path::PathBuf;

use mkaci::check::inspect::read_image;
use mkaci::check::verify::check_report;

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The image file (.aci); its compression is recognised from its bytes.
    /// Or an OCI image layout directory (.oci): one image, or an image
    /// index of several platforms' images.
    image: PathBuf,
    /// Also check the manifest rules, and the ID against the result's index
    /// when the image is (or links to) a file of an mkaci result.
    #[arg(long)]
    verify: bool,
    /// Print only the closure SBOM, <base>.closure.json beside the image,
    /// after checking its SHA-256 against the manifest's pin
    #[arg(long)]
    sbom: bool,
}

/// Prints the manifest, image ID, entry count and sizes. The layout rules and
/// the ID computation always run; `--verify` adds the manifest rules and the
/// recorded ID. With `--sbom`, prints the checked closure SBOM instead.
pub(crate) fn run(args: InspectArgs) -> anyhow::Result<()> {
    mkaci::check::verify::check_present(&args.image)?;
    if args.sbom && args.image.is_dir() {
        return print_layout_sbom(&args);
    }
    if args.image.is_dir() {
        return print_layout(&args);
    }
    let r = read_image(&args.image)?;
    if args.sbom {
        return print_sbom(&args, &r);
    }
    let ratio = if r.tar_size > 0 { 100.0 * r.compressed_size as f64 / r.tar_size as f64 } else { 0.0 };
    out!("image:       {}", args.image.display());
    out!("image ID:    {}", r.image_id);
    out!("compression: {} ({} member{})", r.compression, r.members, if r.members == 1 { "" } else { "s" });
    out!("size:        {} bytes compressed, {} bytes of tar ({ratio:.1}%)", r.compressed_size, r.tar_size);
    out!(
        "entries:     {} ({} directories, {} files of {} bytes, {} symlinks, {} hard links, {} other)",
        r.entries,
        r.rootfs.dirs,
        r.rootfs.files,
        r.rootfs.file_bytes,
        r.rootfs.symlinks,
        r.rootfs.hardlinks,
        r.rootfs.other
    );
    out!("manifest:");
    out!("{}", String::from_utf8_lossy(&r.manifest_bytes));
    if args.verify {
        let (_, recorded_in) = check_report(&args.image, &r)?;
        match recorded_in.as_slice() {
            [] => out!("verify:      layout and manifest OK (not in an mkaci result: no recorded ID to compare)"),
            files => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                out!("verify:      layout and manifest OK, ID matches {}", names.join(", "));
            }
        }
    }
    Ok(())
}

/// `--sbom`: the SBOM's bytes on stdout (for `jq` and the like), what was
/// checked on stderr.
fn print_sbom(args: &InspectArgs, r: &mkaci::check::inspect::ImageReport) -> anyhow::Result<()> {
    use mkaci::image::sbom::{check_beside, sbom_beside, SbomError, ANNOTATION};
    use std::io::Write;
    let manifest = if args.verify {
        check_report(&args.image, r)?.0
    } else {
        mkaci::image::manifest::ImageManifest::from_json_slice(&r.manifest_bytes)?
    };
    let sbom = check_beside(&args.image, &manifest)?
        .ok_or_else(|| SbomError::NotPinned { image: args.image.clone(), sbom: sbom_beside(&args.image) })?;
    std::io::stdout().write_all(&sbom.bytes).map_err(super::stdout_error)?;
    eprintln!("mkaci: {} matches the image's {ANNOTATION} {}", sbom.path.display(), sbom.pin);
    Ok(())
}

/// An OCI image layout: what its `index.json` tags, each image with its
/// platform, manifest, config and layers, every digest checked (as `mkaci
/// verify` checks them).
fn print_layout(args: &InspectArgs) -> anyhow::Result<()> {
    use mkaci::check::oci::{is_index_layout, verify_index_layout, verify_layout};
    use mkaci::formats::oci::layout::platform_text;
    out!("layout:      {}", args.image.display());
    if is_index_layout(&args.image) {
        let c = verify_index_layout(&args.image)?;
        out!("tag:         {}", c.tag);
        out!("index:       {} ({} platforms)", c.index_digest, c.images.len());
        for (p, i) in &c.images {
            out!("platform:    {}", platform_text(p));
            out!("  manifest:  {}", i.manifest_digest.map(|d| d.to_string()).unwrap_or_default());
            out!("  image ID:  {} (the config's digest)", i.config_digest);
            out!("  layers:    {} ({} bytes stored, {} bytes of tar)", i.layers, i.layer_bytes, i.tar_bytes);
        }
    } else {
        let c = verify_layout(&args.image)?;
        out!("tag:         {}", c.tag);
        out!("manifest:    {}", c.manifest_digest.map(|d| d.to_string()).unwrap_or_default());
        out!("image ID:    {} (the config's digest)", c.config_digest);
        out!("layers:      {} ({} bytes stored, {} bytes of tar)", c.layers, c.layer_bytes, c.tar_bytes);
    }
    out!("verify:      every digest checked, every layer unpacked to its diff_id");
    Ok(())
}

/// `--sbom` on an OCI image layout (`<base>.oci`, one tagged manifest): the
/// pin is its config label.
fn print_layout_sbom(args: &InspectArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use mkaci::image::sbom::{check_pinned, sbom_beside, SbomError, ANNOTATION};
    use std::io::Write;
    let index_path = args.image.join("index.json");
    let index: serde_json::Value = serde_json::from_slice(
        &mkaci::archive::untrusted::read_bounded(&index_path, 4 << 20, "an OCI image index")
            .with_context(|| format!("{} is a directory but not an OCI image layout", args.image.display()))?,
    )
    .with_context(|| format!("{} is not JSON", index_path.display()))?;
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .with_context(|| format!("{} tags no manifest", index_path.display()))?;
    let layout = mkaci::formats::oci::read_layout(&args.image, tag)?;
    let pin = layout.config.config.labels.get(ANNOTATION).map(String::as_str);
    let sbom = check_pinned(&args.image, pin)?
        .ok_or_else(|| SbomError::NotPinned { image: args.image.clone(), sbom: sbom_beside(&args.image) })?;
    std::io::stdout().write_all(&sbom.bytes).map_err(super::stdout_error)?;
    eprintln!("mkaci: {} matches the image's config label {ANNOTATION} {}", sbom.path.display(), sbom.pin);
    Ok(())
}
