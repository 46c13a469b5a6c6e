//! `mkaci inspect IMAGE [--verify]`.

use std::path::PathBuf;

use mkaci::inspect::read_image;
use mkaci::verify::check_report;

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The image file (.aci); its compression is recognised from its bytes.
    image: PathBuf,
    /// Also check the manifest rules, and the ID against the result's index
    /// when the image is (or links to) a file of an mkaci result.
    #[arg(long)]
    verify: bool,
}

/// Prints the manifest, image ID, entry count and sizes. The layout rules and
/// the ID computation always run; `--verify` adds the manifest rules and the
/// recorded ID.
pub(crate) fn run(args: InspectArgs) -> anyhow::Result<()> {
    mkaci::verify::check_present(&args.image)?;
    let r = read_image(&args.image)?;
    let ratio = if r.tar_size > 0 { 100.0 * r.compressed_size as f64 / r.tar_size as f64 } else { 0.0 };
    println!("image:       {}", args.image.display());
    println!("image ID:    {}", r.image_id);
    println!("compression: {} ({} member{})", r.compression, r.members, if r.members == 1 { "" } else { "s" });
    println!("size:        {} bytes compressed, {} bytes of tar ({ratio:.1}%)", r.compressed_size, r.tar_size);
    println!(
        "entries:     {} ({} directories, {} files of {} bytes, {} symlinks, {} hard links, {} other)",
        r.entries,
        r.rootfs.dirs,
        r.rootfs.files,
        r.rootfs.file_bytes,
        r.rootfs.symlinks,
        r.rootfs.hardlinks,
        r.rootfs.other
    );
    println!("manifest:");
    println!("{}", String::from_utf8_lossy(&r.manifest_bytes));
    if args.verify {
        let (_, recorded_in) = check_report(&args.image, &r)?;
        match recorded_in.as_slice() {
            [] => println!("verify:      layout and manifest OK (not in an mkaci result: no recorded ID to compare)"),
            files => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                println!("verify:      layout and manifest OK, ID matches {}", names.join(", "));
            }
        }
    }
    Ok(())
}
