//! The rootfs of an app image, planned and checked: the packages, the
//! contents (`users`, `groups`, `files`, ...), the mount targets and the
//! store in the layout asked for, and, inside that planned image, what the
//! app needs (exec[0], which must also be a program for the image's
//! machine, the user and group, the working directory). Every format plans
//! its app's rootfs here, so no format skips a check.

use super::contents::{self, ContentsError};
use super::elf;
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
    #[error(transparent)]
    ForeignExec(Box<ForeignExec>),
}

/// exec[0] is a program for another machine than the image's.
#[derive(Debug, thiserror::Error)]
#[error(
    "exec[0] = {exec0:?} {what} {program}, a program for {machine}, but the image is for {os}/{arch}, whose programs are {expected}: it can never run there. Build the image for the program's platform with targetSystem (e.g. targetSystem = \"{suggest}\"), or give packages built for {os}/{arch}"
)]
pub struct ForeignExec {
    pub exec0: String,
    /// "resolves to" or "runs with the interpreter".
    pub what: &'static str,
    pub program: String,
    pub machine: String,
    pub os: String,
    pub arch: String,
    pub expected: String,
    pub suggest: &'static str,
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
    /// The image's appc os and arch (its labels), which exec[0] must run on.
    pub os: &'a str,
    pub arch: &'a str,
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
    check_exec_machine(&planned, app.exec.program(), input.os, input.arch)?;
    contents::check_user_group(&planned, input.spec)?;
    if let Some(wd) = &app.working_directory {
        planned.check_working_directory(wd.as_str())?;
    }
    Ok(planned)
}

/// exec[0] (after its links), or the interpreter its `#!` line names, must
/// be an ELF program for the image's machine when it is an ELF program at
/// all. Only the first bytes of each are read.
fn check_exec_machine(planned: &PlannedRootfs, exec0: &str, os: &str, arch: &str) -> Result<(), RootfsError> {
    let Some(expected) = elf::machine_for_arch(os, arch) else { return Ok(()) };
    let Some((at, head)) = planned.read_file_head(exec0, elf::HEAD as u64)? else { return Ok(()) };
    let (what, program, machine) = match (elf::machine_of(&head), elf::interpreter_of(&head)) {
        (Some(m), _) => ("resolves to", at, m),
        (None, Some(interp)) => match planned.read_file_head(&interp, elf::HEAD as u64)? {
            Some((interp_at, ihead)) => match elf::machine_of(&ihead) {
                Some(m) => ("runs with the interpreter", interp_at, m),
                None => return Ok(()),
            },
            None => return Ok(()),
        },
        (None, None) => return Ok(()),
    };
    if machine == expected {
        return Ok(());
    }
    Err(RootfsError::ForeignExec(Box::new(ForeignExec {
        exec0: exec0.to_string(),
        what,
        program,
        machine: elf::machine_name(machine),
        os: os.to_string(),
        arch: arch.to_string(),
        expected: elf::machine_name(expected),
        suggest: elf::system_of_machine(machine).unwrap_or("<the program's Nix system>"),
    })))
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
