//! Building a result: from the structured attrs to the artifacts in the result
//! directory. The steps follow the pipeline: closure -> manifest and rootfs plan
//! -> archive (framing and output) -> result (files, index, `postprocess.sh`).
//!
//! The command line (`mkaci build`, which finds the attrs inside the sandbox)
//! lives in the binary; this is the library function it calls.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, ArchiveOptions, ArchiveSummary};
use crate::attrs::{Attrs, ImageFormat};
use crate::closure::{Closure, ClosureError};
use crate::contents::{self, ContentsError};
use crate::layered;
use crate::manifest;
use crate::plan::{self, ImagePath, PlanError, PlanInput, StoreLayout};
use crate::result::{AciFiles, Artifact, ArtifactKind, Digests, ImageBase, Index, ResultWriter, WriteError};
use crate::sbom::{ClosureSbom, ImageKind, Placement, SbomImage};
use crate::spec::{from_spec, layer_from_spec, SpecContext, SpecError};
use crate::store_path::{StoreDir, StorePath, StorePathError, DEFAULT_STORE_DIR};

/// What a build produced.
#[derive(Debug)]
pub struct BuildOutcome {
    pub out: PathBuf,
    /// The index written to the result, one entry per artifact.
    pub index: Index,
    /// The archive written for each artifact, in index order.
    pub archives: Vec<ArchiveSummary>,
    /// The OCI layout written for each OCI artifact, in index order.
    pub layouts: Vec<crate::oci::LayoutSummary>,
}

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
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    OciSpec(#[from] crate::oci::OciSpecError),
    #[error(transparent)]
    Layout(#[from] crate::oci::LayoutError),
    #[error(transparent)]
    Layered(#[from] Box<layered::LayeredError>),
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
}

/// How [`build_with`] builds.
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
    fn store_checks(&self, plan: plan::Plan) -> plan::Plan {
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

/// Builds the artifacts `attrs` describes into the directory `out`, with
/// `threads` compression threads and store verification on. The directory
/// appears whole or not at all (see [`ResultWriter`]). `mkaci` is the program
/// `postprocess.sh` runs.
pub fn build(attrs: &Attrs, out: &Path, mkaci: &Path, threads: usize) -> Result<BuildOutcome, BuildError> {
    build_with(attrs, out, mkaci, &BuildOptions { threads, ..BuildOptions::default() })
}

/// [`build`] with every option.
pub fn build_with(attrs: &Attrs, out: &Path, mkaci: &Path, opts: &BuildOptions) -> Result<BuildOutcome, BuildError> {
    match attrs.format {
        ImageFormat::Oci => return build_oci(attrs, out, mkaci, opts),
        ImageFormat::Layer => return build_layer(attrs, out, mkaci, opts),
        ImageFormat::Aci => {}
    }
    let threads = opts.threads;
    let spec = &attrs.aci;
    let (store, closure, packages) = inputs(attrs)?;
    if spec.thin && spec.layered {
        return Err(BuildError::ThinWithLayers { argument: "layered = true" });
    }
    if spec.thin && !spec.layers.is_empty() {
        return Err(BuildError::ThinWithLayers { argument: "layers" });
    }
    let layout = if spec.thin {
        StoreLayout::Thin
    } else if spec.layered {
        StoreLayout::Layered
    } else {
        StoreLayout::Fat
    };

    // A thin image mounts every closure path read-only from the host.
    let thin_paths: Vec<StorePath> = match layout {
        StoreLayout::Thin => closure.paths().iter().map(|p| p.path.clone()).collect(),
        StoreLayout::Fat | StoreLayout::Layered => Vec::new(),
    };
    let mut resolved =
        from_spec(spec, &SpecContext { system: &attrs.system, store: &store, thin_mounts: &thin_paths })?;
    let app = resolved.manifest.app.as_mut().expect("from_spec always gives an app");

    // The user's mount points, as validated in the manifest; the plan makes
    // their directories. (The thin mounts are the store placeholders.)
    let thin_targets: BTreeSet<String> = thin_paths.iter().map(|p| store.display(p)).collect();
    let mount_targets: Vec<(String, ImagePath)> = app
        .mount_points
        .iter()
        .filter(|m| !thin_targets.contains(m.path.as_str()))
        .map(|m| (m.name.to_string(), ImagePath::from_abs_path(&m.path).expect("a mount point is never \"/\"")))
        .collect();
    let extras = contents::extras(spec, &store)?;
    // A layered image is planned whole, as a fat one, so that every check
    // sees the rootfs the runtime renders; the store paths are split off below.
    let plan_layout = if layout == StoreLayout::Thin { StoreLayout::Thin } else { StoreLayout::Fat };
    let mut planned = plan_and_check(attrs, &store, &closure, &packages, plan_layout, &mount_targets, &extras, app)?;
    if layout == StoreLayout::Thin {
        // rkt resolves exec[0] before it mounts the volumes, when a link such as
        // /bin/sh -> /nix/store/... still points at an empty placeholder. So a
        // thin image names the store file itself.
        let target = planned.resolve_into_store(app.exec.program()).expect("check_exec resolved it");
        if target != app.exec.program() {
            let mut args = app.exec.args().to_vec();
            args[0] = target;
            app.exec = manifest::Exec::new(args).expect("a resolved path is absolute");
        }
    }
    // The closure SBOM, pinned by the manifest (so written before the
    // image); a dependency image's paths are placed there below.
    let mut closure_sbom = ClosureSbom::for_aci(&store, &closure, &packages, &resolved.manifest, layout);
    planned.plan = opts.store_checks(std::mem::take(&mut planned.plan));
    let archive_opts = ArchiveOptions { compression: resolved.compression, threads };
    let os = resolved.manifest.label("os").expect("from_spec sets the os label").to_string();
    let arch = resolved.manifest.label("arch").expect("from_spec sets the arch label").to_string();

    // The dependencies: declared layers, then (layered) one image per
    // remaining store path. Their store paths leave the image itself.
    let mut result = ResultWriter::new(out)?;
    let declared = layered::read_declared(&spec.layers, &store, &os, &arch).map_err(Box::new)?;
    let mut leave_out: BTreeSet<StorePath> = declared.iter().flat_map(|l| l.store_paths.iter().cloned()).collect();
    let mut dependencies = Vec::new();
    let mut dep_artifacts = Vec::new();
    let mut archives = Vec::new();
    for layer in &declared {
        for f in layer.artifact.files.all() {
            result.link(f, &layer.out.join(f))?;
        }
        dependencies.push(layered::pin(&layer.manifest, &layer.artifact.digests.image_id, layer.size));
        for p in &layer.store_paths {
            closure_sbom.set_placement(p, Placement::DependencyAci { image: layer.artifact.name.clone() });
        }
        dep_artifacts.push(layer.artifact.clone());
    }
    if layout == StoreLayout::Layered {
        let prefix =
            layered::prefix(spec.layer_prefix.as_deref(), &resolved.manifest.name, &store).map_err(Box::new)?;
        for path in layered::per_path_order(&closure, &leave_out) {
            let dm = layered::dependency_manifest(layered::dependency_name(&prefix, &path), &os, &arch);
            let plan = opts.store_checks(layered::store_plan(&store, &closure, std::slice::from_ref(&path)));
            let (artifact, summary) =
                write_dependency(&result, &dm, &plan, &archive_opts, resolved.sign, vec![store.display(&path)], None)?;
            dependencies.push(layered::pin(&dm, &summary.image_id, summary.compressed_size));
            closure_sbom.set_placement(&path, Placement::DependencyAci { image: dm.name.clone() });
            dep_artifacts.push(artifact);
            archives.push(summary);
        }
        leave_out.extend(closure.paths().iter().map(|p| p.path.clone()));
    } else if spec.layer_prefix.is_some() {
        return Err(BuildError::PrefixWithoutLayered);
    }
    resolved.manifest.dependencies = dependencies;
    closure_sbom.pin_manifest(&mut resolved.manifest);
    let m = &resolved.manifest;
    m.validate().map_err(|rule| BuildError::Dependencies { rule })?;
    let rootfs = layered::without_store_paths(&store, std::mem::take(&mut planned.plan), &leave_out);

    let base = ImageBase::of_manifest(m).expect("from_spec always sets the os and arch labels");
    let files = AciFiles::new(&base, layout == StoreLayout::Thin).with_sbom(&base);
    let summary = write_image(&result, m, &rootfs, &files, &archive_opts)?;
    result.write(&base.closure_sbom(), &closure_sbom.to_json(), 0o444)?;
    if let Some(mounts) = &files.mounts {
        result.write(mounts, mounts_line(&store, &thin_paths).as_bytes(), 0o444)?;
    }
    result.add(Artifact {
        kind: ArtifactKind::Aci,
        name: m.name.clone(),
        version: m.label("version").map(str::to_string),
        os,
        arch,
        store_layout: layout,
        sign: resolved.sign,
        files,
        digests: Digests { image_id: summary.image_id },
        size: Some(summary.compressed_size),
        store_paths: Vec::new(),
    });
    for a in dep_artifacts {
        result.add(a);
    }
    archives.insert(0, summary);
    let index = result.commit(mkaci)?;
    Ok(BuildOutcome { out: out.to_path_buf(), index, archives, layouts: Vec::new() })
}

/// Writes an image (manifest `m`, rootfs `plan`) into the result as
/// `files.image`, with its `.manifest` and `.id`.
fn write_image(
    result: &ResultWriter,
    m: &manifest::ImageManifest,
    plan: &plan::Plan,
    files: &AciFiles,
    opts: &ArchiveOptions,
) -> Result<ArchiveSummary, BuildError> {
    let summary = archive::write_aci(&m.to_canonical_json(), plan, &result.path(&files.image), opts)?;
    result.write(&files.manifest, &m.to_pretty_json(), 0o444)?;
    result.write(&files.id, format!("{}\n", summary.image_id).as_bytes(), 0o444)?;
    Ok(summary)
}

/// Writes a dependency image (manifest `m`, rootfs `plan`) into the result
/// with its `.manifest` and `.id`, and `sbom` (which `m` pins) when given;
/// returns its index entry.
fn write_dependency(
    result: &ResultWriter,
    m: &manifest::ImageManifest,
    plan: &plan::Plan,
    opts: &ArchiveOptions,
    sign: bool,
    store_paths: Vec<String>,
    sbom: Option<&ClosureSbom>,
) -> Result<(Artifact, ArchiveSummary), BuildError> {
    let base = ImageBase::of_manifest(m).expect("a dependency has os and arch labels");
    let mut files = AciFiles::new(&base, false);
    if sbom.is_some() {
        files = files.with_sbom(&base);
    }
    let summary = write_image(result, m, plan, &files, opts)?;
    if let Some(sbom) = sbom {
        result.write(&base.closure_sbom(), &sbom.to_json(), 0o444)?;
    }
    let label = |n: &str| m.label(n).map(str::to_string);
    let artifact = Artifact {
        kind: ArtifactKind::DependencyAci,
        name: m.name.clone(),
        version: label("version"),
        os: label("os").expect("checked by ImageBase::of_manifest"),
        arch: label("arch").expect("checked by ImageBase::of_manifest"),
        store_layout: StoreLayout::Fat,
        sign,
        files,
        digests: Digests { image_id: summary.image_id },
        size: Some(summary.compressed_size),
        store_paths,
    };
    Ok((artifact, summary))
}

/// Builds a declared layer (`format = "layer"`, what `mkLayer` asks for):
/// one dependency ACI holding the whole closure of the packages, with no app.
fn build_layer(attrs: &Attrs, out: &Path, mkaci: &Path, opts: &BuildOptions) -> Result<BuildOutcome, BuildError> {
    let spec = &attrs.aci;
    let (store, closure, packages) = inputs(attrs)?;
    for (index, p) in packages.iter().enumerate() {
        if !closure.contains(p) {
            return Err(BuildError::PackageNotInClosure { index, value: store.display(p) });
        }
    }
    let resolved = layer_from_spec(spec, &SpecContext { system: &attrs.system, store: &store, thin_mounts: &[] })?;
    let paths: Vec<StorePath> = closure.paths().iter().map(|p| p.path.clone()).collect();
    let plan = opts.store_checks(layered::store_plan(&store, &closure, &paths));
    let mut listed: Vec<String> = paths.iter().map(|p| store.display(p)).collect();
    listed.sort();
    // Its own closure SBOM, every path inside it, pinned by its manifest.
    let mut manifest = resolved.manifest;
    let sbom = ClosureSbom::new(
        SbomImage::of_manifest(ImageKind::DependencyAci, &manifest),
        &store,
        &closure,
        &packages,
        |_| Placement::Contents,
    );
    sbom.pin_manifest(&mut manifest);
    let mut result = ResultWriter::new(out)?;
    let archive_opts = ArchiveOptions { compression: resolved.compression, threads: opts.threads };
    let (artifact, summary) =
        write_dependency(&result, &manifest, &plan, &archive_opts, resolved.sign, listed, Some(&sbom))?;
    result.add(artifact);
    let index = result.commit(mkaci)?;
    Ok(BuildOutcome { out: out.to_path_buf(), index, archives: vec![summary], layouts: Vec::new() })
}

/// The store directory, the closure Nix reported and the packages, parsed:
/// what every artifact kind starts from.
fn inputs(attrs: &Attrs) -> Result<(StoreDir, Closure, Vec<StorePath>), BuildError> {
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
        .map(|(index, p)| store.parse_path(p).map_err(|error| BuildError::Package { index, value: p.clone(), error }))
        .collect::<Result<Vec<StorePath>, _>>()?;
    Ok((store, closure, packages))
}

/// Plans the rootfs (packages, contents, mount targets, the store in
/// `layout`) and checks, inside the planned image, what the app needs:
/// exec[0], the user and group, the working directory. Every artifact kind
/// goes through here, so no kind skips a check.
#[allow(clippy::too_many_arguments)]
fn plan_and_check<'a>(
    attrs: &Attrs,
    store: &'a StoreDir,
    closure: &'a Closure,
    packages: &'a [StorePath],
    layout: StoreLayout,
    mount_targets: &'a [(String, ImagePath)],
    extras: &'a plan::Extras,
    app: &manifest::App,
) -> Result<plan::PlannedRootfs<'a>, BuildError> {
    let spec = &attrs.aci;
    let planned = plan::plan_rootfs(&PlanInput {
        store,
        closure,
        packages,
        layout,
        dnsquirks: spec.dnsquirks,
        mount_targets,
        extras,
    })?;
    planned.check_exec(app.exec.program())?;
    contents::check_user_group(&planned, spec)?;
    if let Some(wd) = &app.working_directory {
        planned.check_working_directory(wd.as_str())?;
    }
    Ok(planned)
}

/// Builds an OCI image layout (`format = "oci"`, what `mkOCI` asks for):
/// the same arguments, closure, manifest checks and rootfs plan as an ACI,
/// written as one layer per store path (grouped by popularity past
/// `maxLayers`) and a top-level layer; see [`crate::oci`].
fn build_oci(attrs: &Attrs, out: &Path, mkaci: &Path, opts: &BuildOptions) -> Result<BuildOutcome, BuildError> {
    use crate::oci::{self, layers, layout::LayerInput, ConfigInput, OciSpecError};
    use crate::result::{OciArtifact, OciDigests, OciFiles};
    let threads = opts.threads;

    let spec = &attrs.aci;
    let oci_spec = attrs.oci.as_ref().ok_or(OciSpecError::MissingOciAttrs)?;
    if spec.layered {
        return Err(BuildError::OciWithLayers { argument: "layered" });
    }
    if !spec.layers.is_empty() {
        return Err(BuildError::OciWithLayers { argument: "layers" });
    }
    oci::config::check_spec(spec, oci_spec)?;
    let platform = crate::names::oci_platform_of_system(&attrs.system)
        .ok_or_else(|| OciSpecError::UnknownPlatform { system: attrs.system.clone() })?;
    let (store, closure, packages) = inputs(attrs)?;
    let resolved = from_spec(spec, &SpecContext { system: &attrs.system, store: &store, thin_mounts: &[] })?;
    let compression = oci::config::layer_compression(resolved.compression)?;
    let m = &resolved.manifest;
    oci::config::check_manifest(m)?;
    let app = m.app.as_ref().expect("from_spec always gives an app");
    let mount_targets: Vec<(String, ImagePath)> = app
        .mount_points
        .iter()
        .map(|m| (m.name.to_string(), ImagePath::from_abs_path(&m.path).expect("a mount point is never \"/\"")))
        .collect();
    let extras = contents::extras(spec, &store)?;
    let mut planned =
        plan_and_check(attrs, &store, &closure, &packages, StoreLayout::Fat, &mount_targets, &extras, app)?;
    planned.plan = opts.store_checks(std::mem::take(&mut planned.plan));

    let base = ImageBase::new(&m.name, m.label("version"), &platform.os, &platform.architecture);
    let dir_name = base.oci_layout();
    if let Some(nix) = &oci_spec.dir_name {
        if nix != dir_name.as_str() {
            return Err(OciSpecError::DirNameMismatch { nix: nix.clone(), ours: dir_name.to_string() }.into());
        }
    }
    let mut layer_inputs: Vec<LayerInput> = layers::group_by_popularity(&closure, oci_spec.max_layers)
        .iter()
        .map(|l| LayerInput {
            plan: layers::store_layer_plan(&store, l, &planned.plan),
            created_by: layers::describe(&store, l),
        })
        .collect();
    layer_inputs.push(LayerInput {
        plan: layers::top_layer_plan(&store, &planned.plan),
        created_by: "mkaci: the top-level tree (merged packages, /etc, /tmp, mount targets)".into(),
    });
    // The closure SBOM, pinned by a config label.
    let closure_sbom = ClosureSbom::for_oci(&store, &closure, &packages, m, &spec.labels, platform);
    let labels = closure_sbom.pinned_labels(&spec.labels);
    let input = ConfigInput { manifest: m, labels: &labels, platform };
    let mut result = ResultWriter::new(out)?;
    let summary = oci::write_layout(
        &result.path(&dir_name),
        &layer_inputs,
        &input,
        &oci_spec.tag,
        &ArchiveOptions { compression, threads },
    )?;
    result.write(&base.closure_sbom(), &closure_sbom.to_json(), 0o444)?;
    result.add_oci(OciArtifact {
        kind: ArtifactKind::OciLayout,
        name: m.name.clone(),
        version: m.label("version").map(str::to_string),
        os: platform.os.clone(),
        arch: platform.architecture.clone(),
        tag: oci_spec.tag.clone(),
        layers: summary.layers.len() as u32,
        files: OciFiles { layout: dir_name, sbom: Some(base.closure_sbom()) },
        digests: OciDigests { manifest: summary.manifest.digest, config: summary.config.digest },
    });
    let index = result.commit(mkaci)?;
    Ok(BuildOutcome { out: out.to_path_buf(), index, archives: Vec::new(), layouts: vec![summary] })
}

/// The `.mounts` line: one rkt `--volume` per closure path, in store order.
pub fn mounts_line(store: &StoreDir, paths: &[StorePath]) -> String {
    let mut line = paths
        .iter()
        .map(|p| format!("--volume=nix-{},kind=host,source={},readOnly=true", p.hash(), store.display(p)))
        .collect::<Vec<_>>()
        .join(" ");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_line_lists_every_path() {
        let store = StoreDir::default();
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let paths = [
            StorePath::from_base_name(&format!("{a}-x")).unwrap(),
            StorePath::from_base_name(&format!("{b}-y")).unwrap(),
        ];
        assert_eq!(
            mounts_line(&store, &paths),
            format!(
                "--volume=nix-{a},kind=host,source=/nix/store/{a}-x,readOnly=true --volume=nix-{b},kind=host,source=/nix/store/{b}-y,readOnly=true\n"
            )
        );
    }
}
