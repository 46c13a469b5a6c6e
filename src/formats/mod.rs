//! The artifact kinds, side by side. Each takes the same [`Input`] (the
//! structured attrs and what they parse to) and writes its artifacts through
//! the [`ResultWriter`], returning what it wrote ([`Built`]). [`crate::build`]
//! chooses one; the [`ResultWriter`] commits the result.
//!
//! - [`aci`]: appc images: fat and thin apps ([`aci::app`]), layered apps
//!   over dependency images ([`aci::layered`]), declared layers
//!   ([`aci::layer`], what `mkLayer` builds); what they share (writing an ACI
//!   with its `.manifest` and `.id`) is [`aci`] itself.
//! - [`oci`]: OCI image layouts (`mkOCI`, [`oci::image`]) over declared
//!   layers (`mkLayer`'s `oci`, [`oci::layer`]), and the docker-archive that
//!   publishing makes from one, and image indexes of one name for several
//!   platforms ([`oci::index`], `mkMultiArch` of mkOCI images).
//!
//! No format imports another (`scripts/check-layers` enforces it): what two
//! of them share lives below, in [`crate::image`] (the manifest, the planned
//! rootfs, store paths as plan entries and their popularity order),
//! [`crate::archive`] and [`crate::result`].

use crate::archive::{ArchiveError, ArchiveSummary};
use crate::image::contents::ContentsError;
use crate::image::manifest;
use crate::image::plan::{self, PlanError};
use crate::image::rootfs::RootfsError;
use crate::image::spec::SpecError;
use crate::nix::attrs::{AciSpec, Attrs};
use crate::nix::closure::{Closure, ClosureError};
use crate::nix::store_path::{StoreDir, StorePath, StorePathError, DEFAULT_STORE_DIR};
use crate::result::{ResultWriter, WriteError};

pub mod aci;
pub mod oci;

/// How a format builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Compression threads; 0 means one per core. The output does not depend
    /// on it.
    pub threads: usize,
    /// Check every store path packed against the NAR hash in the closure,
    /// while packing (a mismatch fails the build). On by default.
    pub verify_store: bool,
}

impl BuildOptions {
    /// `plan` as these options pack it: its store paths checked against
    /// their NAR hashes, or (without `verify_store`) not.
    pub fn store_checks(&self, plan: plan::Plan) -> plan::Plan {
        if self.verify_store {
            plan
        } else {
            plan.without_verification()
        }
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { threads: 0, verify_store: true }
    }
}

/// What every format starts from: the attrs, and the store directory, the
/// closure Nix reported and the packages, parsed once.
#[derive(Debug)]
pub struct Input<'a> {
    pub attrs: &'a Attrs,
    pub store: StoreDir,
    pub closure: Closure,
    pub packages: Vec<StorePath>,
    pub opts: BuildOptions,
}

impl<'a> Input<'a> {
    /// Parses what every format needs from `attrs`.
    pub fn parse(attrs: &'a Attrs, opts: &BuildOptions) -> Result<Input<'a>, BuildError> {
        let spec = &attrs.aci;
        let store = StoreDir::new(attrs.store_dir.as_deref().unwrap_or(DEFAULT_STORE_DIR))
            .map_err(|error| BuildError::StoreDir { error })?;
        let closure = Closure::from_raw(&store, &attrs.closure).map_err(|error| BuildError::Closure { error })?;
        if spec.packages.is_empty() {
            return Err(BuildError::NoPackages);
        }
        let packages = spec
            .packages
            .iter()
            .enumerate()
            .map(|(index, p)| {
                store.parse_path(p).map_err(|error| BuildError::Package { index, value: p.clone(), error })
            })
            .collect::<Result<Vec<StorePath>, _>>()?;
        Ok(Input { attrs, store, closure, packages, opts: *opts })
    }

    /// The mkACI arguments.
    pub fn spec(&self) -> &'a AciSpec {
        &self.attrs.aci
    }
}

/// What a format wrote, besides its index entries.
#[derive(Debug, Default)]
pub struct Built {
    /// The archive written for each ACI artifact, in index order.
    pub archives: Vec<ArchiveSummary>,
    /// The layout written for each OCI artifact, in index order.
    pub layouts: Vec<oci::LayoutSummary>,
}

/// A format: builds its artifacts from `input` into `result`.
pub type Format = fn(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError>;

/// Why a build failed. Each message names the mkACI argument or the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("storeDir: {error}")]
    StoreDir { error: StorePathError },
    #[error("closure: {error}")]
    Closure { error: ClosureError },
    #[error("packages: the list is empty; give mkACI at least one package, e.g. packages = [ pkgs.busybox ]")]
    NoPackages,
    #[error("packages[{index}] = {value:?}: {error}")]
    Package { index: usize, value: String, error: StorePathError },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Contents(#[from] ContentsError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    OciSpec(#[from] oci::OciSpecError),
    #[error(transparent)]
    Layout(#[from] oci::LayoutError),
    #[error(transparent)]
    Layered(#[from] Box<aci::deps::LayeredError>),
    #[error(transparent)]
    OciLayers(#[from] Box<oci::declared::DeclaredError>),
    #[error(transparent)]
    MultiArch(Box<aci::multi::MultiArchError>),
    #[error(transparent)]
    OciIndex(Box<oci::index::OciIndexError>),
    #[error("thin = true and {argument} do not go together: a thin image mounts every store path from the host, a layered one ships them as dependency images; choose one")]
    ThinWithLayers { argument: &'static str },
    #[error("layerPrefix is given but layered is not true; it names the per-path dependency images, which only layered = true makes: set layered = true or drop layerPrefix")]
    PrefixWithoutLayered,
    #[error("packages[{index}] = {value:?} is not in the closure Nix reported; build through mkLayer, which exports the packages' closure")]
    PackageNotInClosure { index: usize, value: String },
    #[error(
        "the manifest with its dependencies breaks an appc rule: {rule}; this is a bug in mkaci, please report it"
    )]
    Dependencies { rule: manifest::ManifestError },
    #[error("{argument} is not supported for OCI images (mkOCI makes its own layers, see maxLayers); drop it")]
    OciWithLayers { argument: &'static str },
    #[error("a cached per-path layer has {what}")]
    PathLayer { what: String },
}

/// The file of a layer plan (`format = "layer-plan"`, what `cacheLayers`
/// reads at evaluation time).
pub const LAYER_PLAN_FILE: &str = "layers.json";

/// The layer plan: the store paths that get a cached per-path layer, in the
/// order the image uses them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPlan {
    pub paths: Vec<String>,
}

/// Writes `paths` as the layer plan of `result`.
pub fn write_layer_plan(result: &ResultWriter, store: &StoreDir, paths: &[StorePath]) -> Result<Built, BuildError> {
    let plan = LayerPlan { paths: paths.iter().map(|p| store.display(p)).collect() };
    let mut json = serde_json::to_vec_pretty(&plan).expect("a list of strings serialises");
    json.push(b'\n');
    let name = crate::result::FileName::try_from(LAYER_PLAN_FILE.to_string()).expect("a plain file name");
    result.write(&name, &json, 0o444)?;
    Ok(Built::default())
}
