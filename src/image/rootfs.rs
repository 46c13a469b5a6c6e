//! The rootfs of an app image, planned and checked: the packages, the
//! contents (`users`, `groups`, `files`, ...), the mount targets and the
//! store in the layout asked for, and, inside that planned image, what the
//! app needs (exec[0], the user and group, the working directory). Every
//! format plans its app's rootfs here, so no format skips a check.

use super::contents::{self, ContentsError};
use super::manifest::App;
use super::plan::{self, Extras, ImagePath, PlanError, PlanInput, PlannedRootfs, StoreLayout};
use crate::nix::attrs::AciSpec;
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath};

/// Why an app's rootfs cannot be planned, or fails a check.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Contents(#[from] ContentsError),
}

/// What an app's rootfs is planned from.
#[derive(Debug, Clone, Copy)]
pub struct RootfsInput<'a> {
    pub spec: &'a AciSpec,
    pub store: &'a StoreDir,
    pub closure: &'a Closure,
    pub packages: &'a [StorePath],
    /// Fat or thin: a layered image is planned fat, so that every check sees
    /// the tree the runtime renders.
    pub layout: StoreLayout,
    /// Mount targets (user `mounts` and `mountsRo`), as the manifest has them.
    pub mount_targets: &'a [(String, ImagePath)],
    pub extras: &'a Extras,
}

/// Plans the rootfs `input` describes and checks `app` inside it.
pub fn plan_and_check<'a>(input: &RootfsInput<'a>, app: &App) -> Result<PlannedRootfs<'a>, RootfsError> {
    let planned = plan::plan_rootfs(&PlanInput {
        store: input.store,
        closure: input.closure,
        packages: input.packages,
        layout: input.layout,
        dnsquirks: input.spec.dnsquirks,
        mount_targets: input.mount_targets,
        extras: input.extras,
    })?;
    planned.check_exec(app.exec.program())?;
    contents::check_user_group(&planned, input.spec)?;
    if let Some(wd) = &app.working_directory {
        planned.check_working_directory(wd.as_str())?;
    }
    Ok(planned)
}

/// The mount targets of `app` that the rootfs makes as directories: every
/// mount point but those named in `skip` (a thin image's store mounts).
pub fn mount_targets(app: &App, skip: &std::collections::BTreeSet<String>) -> Vec<(String, ImagePath)> {
    app.mount_points
        .iter()
        .filter(|m| !skip.contains(m.path.as_str()))
        .map(|m| (m.name.to_string(), ImagePath::from_abs_path(&m.path).expect("a mount point is never \"/\"")))
        .collect()
}
