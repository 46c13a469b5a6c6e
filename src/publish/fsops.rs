//! File operations that never leave a half-written name behind: everything is
//! made under a hidden temporary name in the same directory and then renamed
//! over the final name (`rename(2)` is atomic within one file system).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A hidden, unique sibling of `path`: `.NAME.tmp-PID-N`.
pub(super) fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Makes `link` a symlink to `target`, replacing whatever `link` was.
pub(super) fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes `bytes` to `path` (mode 0644), replacing whatever `path` was.
pub(super) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies what `from` reads (an opened, checked file) to `dest` (mode
/// 0444), replacing whatever `dest` was.
pub(super) fn replace_with_copy(mut from: impl std::io::Read, dest: &Path) -> std::io::Result<()> {
    let tmp = temp_sibling(dest);
    let result = (|| {
        let mut to = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(&tmp)?;
        std::io::copy(&mut from, &mut to)?;
        to.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes `path` if it exists (a file or symlink).
pub(super) fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Creates `dir` (and parents) and proves a file can be made in it. The
/// directories it created are removed again, when still empty, as the
/// returned guard is dropped: a run that fails before it writes anything
/// leaves no empty DIR behind.
pub(super) fn ensure_writable_dir(dir: &Path) -> std::io::Result<CreatedDirs> {
    let mut created = Vec::new();
    let mut d = dir;
    while !d.as_os_str().is_empty() && d.symlink_metadata().is_err() {
        created.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    let guard = CreatedDirs(created);
    std::fs::create_dir_all(dir)?;
    let probe = temp_sibling(&dir.join("probe"));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)?;
    Ok(guard)
}

/// Directories [`ensure_writable_dir`] created, deepest first; on drop, each
/// that is empty is removed.
#[must_use = "dropping it at once removes the directories it created"]
pub(super) struct CreatedDirs(Vec<PathBuf>);

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for d in &self.0 {
            // Fails, and keeps the directory, unless it is empty.
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_symlink_and_file_leave_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("x.aci");
        replace_symlink(Path::new("/a"), &link).unwrap();
        replace_symlink(Path::new("/b"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/b"));
        let f = d.path().join("x.aci.asc");
        replace_file(&f, b"one").unwrap();
        replace_file(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let mut names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["x.aci", "x.aci.asc"]);
        remove_if_exists(&f).unwrap();
        remove_if_exists(&f).unwrap();
        assert!(!f.exists());
    }

    #[test]
    fn writable_dir_errors() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(ensure_writable_dir(&file.join("sub")).is_err());
        let created = ensure_writable_dir(&d.path().join("a/b")).unwrap();
        assert_eq!(std::fs::read_dir(d.path().join("a/b")).unwrap().count(), 0);
        drop(created);
        assert!(!d.path().join("a").exists(), "the empty directories it made are removed");
        // A directory that was there stays; one that got a file stays.
        let created = ensure_writable_dir(d.path()).unwrap();
        drop(created);
        assert!(d.path().is_dir());
        let created = ensure_writable_dir(&d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/x.aci"), "").unwrap();
        drop(created);
        assert!(d.path().join("a/b/x.aci").is_file());
    }
}
