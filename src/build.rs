//! Building a result: the structured attrs parsed once into a
//! [`formats::Input`], the format they ask for chosen and run, its artifacts
//! committed as the result directory (files, index, `postprocess.sh`).
//! Adding an artifact kind adds a file under `formats/` and a line in
//! [`format_of`].
//!
//! The command line (`mkaci build`, which finds the attrs inside the sandbox)
//! lives in the binary; this is the library function it calls.

use std::path::{Path, PathBuf};

use crate::formats::{self, Format, Input};
use crate::nix::attrs::{Attrs, ImageFormat};
use crate::result::{Index, ResultWriter};

pub use crate::formats::{BuildError, BuildOptions};

/// What a build produced.
#[derive(Debug)]
pub struct BuildOutcome {
    pub out: PathBuf,
    /// The index written to the result, one entry per artifact.
    pub index: Index,
    /// The archive written for each artifact, in index order.
    pub archives: Vec<crate::archive::ArchiveSummary>,
    /// The OCI layout written for each OCI artifact, in index order.
    pub layouts: Vec<formats::oci::LayoutSummary>,
}

/// The format that builds what `attrs` ask for.
pub fn format_of(attrs: &Attrs) -> Format {
    let spec = &attrs.aci;
    match attrs.format {
        ImageFormat::Oci => formats::oci::build,
        ImageFormat::OciLayer => formats::oci::layer::build,
        ImageFormat::MultiArch => formats::aci::multi::build,
        ImageFormat::OciMultiArch => formats::oci::index::build,
        ImageFormat::Layer => formats::aci::layer::build,
        ImageFormat::LayerPlan if attrs.oci.is_some() => formats::oci::plan::build,
        ImageFormat::LayerPlan => formats::aci::plan::build,
        ImageFormat::PathLayer => formats::aci::path_layer::build,
        ImageFormat::OciPathLayer => formats::oci::path_layer::build,
        ImageFormat::Aci if spec.layered || !spec.layers.is_empty() || !spec.cached_layers.is_empty() => {
            formats::aci::layered::build
        }
        ImageFormat::Aci => formats::aci::app::build,
    }
}

/// Builds the artifacts `attrs` describes into the directory `out`, with
/// `threads` compression threads and store verification on. The directory
/// appears whole or not at all (see [`ResultWriter`]). `mkaci` is the program
/// `postprocess.sh` runs.
pub fn build(attrs: &Attrs, out: &Path, mkaci: &Path, threads: usize) -> Result<BuildOutcome, BuildError> {
    build_with(attrs, out, mkaci, &BuildOptions { threads, ..BuildOptions::default() })
}

/// [`build`] with every option.
pub fn build_with(attrs: &Attrs, out: &Path, mkaci: &Path, opts: &BuildOptions) -> Result<BuildOutcome, BuildError> {
    let input = Input::parse(attrs, opts)?;
    let mut result = ResultWriter::new(out)?;
    let built = format_of(attrs)(&input, &mut result)?;
    let index = result.commit(mkaci)?;
    Ok(BuildOutcome { out: out.to_path_buf(), index, archives: built.archives, layouts: built.layouts })
}
