//! Writing a result directory: every file goes into a staging directory
//! beside the final output, which is renamed into place only once the index
//! and `postprocess.sh` are written. A failed build leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::files::FileName;
use super::index::{Artifact, Index, OciArtifact, OciIndexArtifact, INDEX_FILE};
use super::script::postprocess_script_into;

/// Why a result directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("output path {} has no file name", path.display())]
    NoFileName { path: PathBuf },
    #[error("output directory {} exists and is not an earlier mkaci result; choose another --out or remove it", path.display())]
    NotAResult { path: PathBuf },
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { action, path: path.to_path_buf(), source }
}

/// A result being written. Artifacts add their files with [`ResultWriter::path`]
/// or [`ResultWriter::write`] and describe themselves with
/// [`ResultWriter::add`]; [`ResultWriter::commit`] writes the index and
/// `postprocess.sh` and renames the directory into place. Dropped before that,
/// it removes everything it wrote.
pub struct ResultWriter {
    staging: PathBuf,
    out: PathBuf,
    artifacts: Vec<Artifact>,
    oci_layouts: Vec<OciArtifact>,
    oci_indexes: Vec<OciIndexArtifact>,
    committed: bool,
}

impl ResultWriter {
    /// Starts a result that will become `out`. An existing `out` may be
    /// replaced only when it is empty or an earlier mkaci result.
    pub fn new(out: &Path) -> Result<ResultWriter, WriteError> {
        let name = out.file_name().ok_or_else(|| WriteError::NoFileName { path: out.to_path_buf() })?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if out.exists() && !is_replaceable(out) {
            return Err(WriteError::NotAResult { path: out.to_path_buf() });
        }
        let staging = parent.join(format!(".{}.mkaci-partial-{}", name.to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io("create", &staging))?;
        Ok(ResultWriter {
            staging,
            out: out.to_path_buf(),
            artifacts: Vec::new(),
            oci_layouts: Vec::new(),
            oci_indexes: Vec::new(),
            committed: false,
        })
    }

    /// Where a writer puts the file `name` (in the staging directory).
    pub fn path(&self, name: &FileName) -> PathBuf {
        self.staging.join(name)
    }

    /// Writes the file `name` with `bytes` and `mode`.
    pub fn write(&self, name: &FileName, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
        write_new(&self.path(name), bytes, mode)
    }

    /// Makes the file `name` a symlink to `target` (a file of another
    /// result, such as a declared layer's image).
    pub fn link(&self, name: &FileName, target: &Path) -> Result<(), WriteError> {
        let path = self.path(name);
        std::os::unix::fs::symlink(target, &path).map_err(io("create the link", &path))
    }

    /// Lists an artifact in the index; its files must have been written.
    pub fn add(&mut self, artifact: Artifact) {
        self.artifacts.push(artifact);
    }

    /// Lists an OCI image layout in the index; its directory (at
    /// [`ResultWriter::path`] of its name) must have been written.
    pub fn add_oci(&mut self, artifact: OciArtifact) {
        self.oci_layouts.push(artifact);
    }

    /// Lists an OCI image index layout in the index; its directory must have
    /// been written.
    pub fn add_oci_index(&mut self, artifact: OciIndexArtifact) {
        self.oci_indexes.push(artifact);
    }

    /// Writes `nix2aci.json` and `postprocess.sh` (which runs `mkaci`), and
    /// renames the result into place. Returns the index.
    pub fn commit(mut self, mkaci: &Path) -> Result<Index, WriteError> {
        let mut index = Index::with_oci(std::mem::take(&mut self.artifacts), std::mem::take(&mut self.oci_layouts));
        index.oci_indexes = std::mem::take(&mut self.oci_indexes);
        write_new(&self.staging.join(INDEX_FILE), &index.to_json(), 0o444)?;
        // A result of OCI images only publishes into OCI/ by default.
        let default_dir = if index.artifacts.is_empty() { "OCI" } else { "ACIs" };
        write_new(
            &self.staging.join(POSTPROCESS_SCRIPT),
            &postprocess_script_into(mkaci, &self.out, default_dir),
            0o555,
        )?;
        if self.out.exists() {
            let old = self.staging.with_extension("old");
            std::fs::rename(&self.out, &old).map_err(io("move the earlier result aside", &self.out))?;
            make_writable(&old);
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(&self.staging, &self.out).map_err(io("rename the staging directory to", &self.out))?;
        self.committed = true;
        Ok(index)
    }
}

/// The name of the generated script in a result.
pub const POSTPROCESS_SCRIPT: &str = "postprocess.sh";

impl Drop for ResultWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))
}

/// An existing output may be replaced when it is empty or an earlier mkaci result.
fn is_replaceable(out: &Path) -> bool {
    out.join(INDEX_FILE).is_file() || std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false)
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}
