//! appc images (ACIs). Three kinds, each a file here, from the same
//! [`Input`](super::Input):
//!
//! - [`app`]: a fat image (the closure inside) or a thin one (every store
//!   path mounted from the host);
//! - [`layered`]: an app over dependency images: declared layers (`mkLayer`
//!   results) and, with `layered = true`, one dependency image per store path;
//! - [`layer`]: a declared layer itself, one dependency image of a closure;
//! - [`path_layer`]: one cached per-path dependency image (`cacheLayers`);
//! - [`plan`]: the store paths that get a cached per-path dependency image,
//!   read at evaluation time (`cacheLayers`);
//! - [`multi`]: the images of one name for several platforms, in one result.
//!
//! What they share is here: the app's manifest and planned rootfs
//! ([`prepare_app`]), and writing an ACI with its `.manifest` and `.id` into
//! the result ([`write_image`], [`write_dependency`], [`finish_app`]), and
//! the per-path dependency images and layers built elsewhere ([`deps`]). The
//! kinds never import one another.

use std::collections::BTreeSet;

use crate::archive::{self, ArchiveOptions, ArchiveSummary};
use crate::image::contents;
use crate::image::manifest::{self, Dependency, ImageManifest};
use crate::image::plan::store::without_store_paths;
use crate::image::plan::{Plan, StoreLayout};
use crate::image::rootfs::{self, RootfsInput};
use crate::image::sbom::ClosureSbom;
use crate::image::spec::{from_spec, SpecContext};
use crate::nix::store_path::{StoreDir, StorePath};
use crate::result::{AciFiles, Artifact, ArtifactKind, Digests, ImageBase, ResultWriter};

use super::{BuildError, Built, Input};

pub mod app;
pub mod deps;
pub mod layer;
pub mod layered;
pub mod multi;
pub mod path_layer;
pub mod plan;

/// An app image, planned and checked, before its dependencies are known.
pub struct PreparedApp {
    pub manifest: ImageManifest,
    pub sign: bool,
    /// How the store is laid out in the image (fat, thin or layered).
    pub layout: StoreLayout,
    /// The whole rootfs, store paths included (as the checks saw it), with
    /// the store checks the build options ask for.
    pub rootfs: Plan,
    /// The closure SBOM, each path placed as `layout` places it.
    pub sbom: ClosureSbom,
    /// A thin image's store mounts: every closure path, in store order.
    pub thin_paths: Vec<StorePath>,
    pub archive_opts: ArchiveOptions,
    pub os: String,
    pub arch: String,
}

/// Resolves the manifest and plans the rootfs of the app `input` describes,
/// with the store laid out as `layout`, and checks what the app needs inside
/// it. A layered image is planned fat, so that every check sees the tree the
/// runtime renders; its store paths are split off by [`finish_app`].
pub fn prepare_app(input: &Input, layout: StoreLayout) -> Result<PreparedApp, BuildError> {
    let (spec, store, closure) = (input.spec(), &input.store, &input.closure);
    // A thin image mounts every closure path read-only from the host.
    let thin_paths: Vec<StorePath> = match layout {
        StoreLayout::Thin => closure.paths().iter().map(|p| p.path.clone()).collect(),
        StoreLayout::Fat | StoreLayout::Layered => Vec::new(),
    };
    let mut resolved =
        from_spec(spec, &SpecContext { system: input.attrs.image_system(), store, thin_mounts: &thin_paths })?;
    let os = resolved.manifest.label("os").expect("from_spec sets the os label").to_string();
    let arch = resolved.manifest.label("arch").expect("from_spec sets the arch label").to_string();
    let app = resolved.manifest.app.as_mut().expect("from_spec always gives an app");

    // The user's mount points, as validated in the manifest; the plan makes
    // their directories. (The thin mounts are the store placeholders.)
    let thin_targets: BTreeSet<String> = thin_paths.iter().map(|p| store.display(p)).collect();
    let mount_targets = rootfs::mount_targets(app, &thin_targets);
    let extras = contents::extras(spec, store)?;
    let plan_layout = if layout == StoreLayout::Thin { StoreLayout::Thin } else { StoreLayout::Fat };
    let rootfs_input = RootfsInput {
        spec,
        store,
        closure,
        packages: &input.packages,
        layout: plan_layout,
        mount_targets: &mount_targets,
        extras: &extras,
        os: &os,
        arch: &arch,
    };
    let mut planned = rootfs::plan_and_check(&rootfs_input, app)?;
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
    // image); a dependency image's paths are placed there later.
    let sbom = ClosureSbom::for_aci(store, closure, &input.packages, &resolved.manifest, layout);
    let rootfs = input.opts.store_checks(std::mem::take(&mut planned.plan));
    Ok(PreparedApp {
        manifest: resolved.manifest,
        sign: resolved.sign,
        layout,
        rootfs,
        sbom,
        thin_paths,
        archive_opts: ArchiveOptions {
            compression: resolved.compression,
            threads: input.opts.threads,
            machine: crate::image::elf::machine_for_arch(&os, &arch),
        },
        os,
        arch,
    })
}

/// An app's dependency images, as [`finish_app`] pins and lists them.
#[derive(Default)]
pub struct Dependencies {
    /// The manifest entries that pin them, in order.
    pub pins: Vec<Dependency>,
    /// Their index entries, in the same order.
    pub artifacts: Vec<Artifact>,
    /// The store paths they hold, which leave the app's rootfs.
    pub leave_out: BTreeSet<StorePath>,
    /// The archives written for them (those of declared layers are not).
    pub archives: Vec<ArchiveSummary>,
}

/// Writes the app `app` over `deps` into `result`: the manifest pins the
/// dependencies and the closure SBOM, the rootfs leaves out their store
/// paths; the app's artifact comes first in the index, then the dependencies.
pub fn finish_app(
    input: &Input,
    result: &mut ResultWriter,
    mut app: PreparedApp,
    deps: Dependencies,
) -> Result<Built, BuildError> {
    app.manifest.dependencies = deps.pins;
    app.sbom.pin_manifest(&mut app.manifest);
    let m = &app.manifest;
    m.validate().map_err(|rule| BuildError::Dependencies { rule })?;
    let rootfs = without_store_paths(&input.store, app.rootfs, &deps.leave_out);

    let base = ImageBase::of_manifest(m).expect("from_spec always sets the os and arch labels");
    let files = AciFiles::new(&base, app.layout == StoreLayout::Thin).with_sbom(&base);
    let summary = write_image(result, m, &rootfs, &files, &app.archive_opts)?;
    result.write(&base.closure_sbom(), &app.sbom.to_json(), 0o444)?;
    if let Some(mounts) = &files.mounts {
        result.write(mounts, mounts_line(&input.store, &app.thin_paths).as_bytes(), 0o444)?;
    }
    result.add(Artifact {
        kind: ArtifactKind::Aci,
        name: m.name.clone(),
        version: m.label("version").map(str::to_string),
        os: app.os,
        arch: app.arch,
        store_layout: app.layout,
        sign: app.sign,
        files,
        digests: Digests { image_id: summary.image_id },
        size: Some(summary.compressed_size),
        store_paths: Vec::new(),
    });
    for a in deps.artifacts {
        result.add(a);
    }
    let mut archives = deps.archives;
    archives.insert(0, summary);
    Ok(Built { archives, layouts: Vec::new() })
}

/// Writes an image (manifest `m`, rootfs `plan`) into the result as
/// `files.image`, with its `.manifest` and `.id`.
pub fn write_image(
    result: &ResultWriter,
    m: &ImageManifest,
    plan: &Plan,
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
pub fn write_dependency(
    result: &ResultWriter,
    m: &ImageManifest,
    plan: &Plan,
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
