//! File operations that never leave a half-written name behind: everything is
//! made under a hidden temporary name in the same directory and then renamed
//! over the final name (`rename(2)` is atomic within one file system).

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

/// Removes whatever is at `path`: a file, a link, or a directory tree
/// (made writable first: copies out of the store are read-only).
pub(super) fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Makes a directory tree removable (directories copied out of the store
/// are read-only).
pub(super) fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::symlink_metadata(dir) {
        if m.is_dir() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// Swaps what lies at `a` and at `b` in one step (`renameat2` with
/// `RENAME_EXCHANGE`): both stay there, under each other's names.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Puts `staged` at `dest`, which is there already, keeping what `dest` was
/// at `backup`; `dest` names something at every moment.
fn replace_keeping(staged: &Path, dest: &Path, backup: &Path) -> std::io::Result<()> {
    match exchange(staged, dest) {
        Ok(()) => std::fs::rename(staged, backup),
        // A file system without RENAME_EXCHANGE: a second hard link keeps
        // the old file (or link) while the new one is renamed over it.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => {
            std::fs::hard_link(dest, backup)?;
            std::fs::rename(staged, dest).inspect_err(|_| {
                let _ = std::fs::remove_file(backup);
            })
        }
        Err(e) => Err(e),
    }
}

/// A set of changes to a directory made in two steps, so that a failure
/// leaves the directory as it was. Staging writes every file, link and
/// directory under a hidden temporary name beside its final name (nothing a
/// reader looks at changes); [`Transaction::commit`] then renames each into
/// place in the order staged, keeping what it replaces or removes under a
/// temporary name, and on a failure puts back everything it had changed,
/// last first. Once all are in place the old ones are deleted.
///
/// A run killed during the commit cannot put anything back: what it leaves
/// is the state after some of the steps, in their order, so callers stage in
/// an order where every prefix is consistent (a key before the signatures
/// it verifies, an image before its signature, images before the files that
/// list them). The temporaries it leaves are removed by the next run
/// ([`remove_stale_temporaries`]).
#[derive(Default)]
pub(super) struct Transaction {
    steps: Vec<Step>,
}

enum Step {
    /// Put the staged `staged` at `dest`; with `root`, `dest` is a link into
    /// the Nix store that is registered as an indirect GC root of the store
    /// path `root` (unless it is one already) before the link is put there.
    Put { staged: PathBuf, dest: PathBuf, root: Option<PathBuf> },
    /// Remove `dest`, when it is there; a directory only when `dir`.
    Remove { dest: PathBuf, dir: bool },
}

/// What the commit did to one name, so that it can be undone.
enum Done {
    /// `dest` was not there.
    Made(PathBuf),
    /// `dest` was there: what it was lies at `backup`.
    Kept { dest: PathBuf, backup: PathBuf },
}

impl Transaction {
    /// Stages `bytes` (mode `mode`) for `dest`.
    pub(super) fn file(&mut self, dest: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        self.copy(bytes, dest, mode)
    }

    /// Stages what `from` reads (mode `mode`) for `dest`.
    pub(super) fn copy(&mut self, mut from: impl std::io::Read, dest: &Path, mode: u32) -> std::io::Result<()> {
        let staged = temp_sibling(dest);
        self.steps.push(Step::Put { staged: staged.clone(), dest: dest.to_path_buf(), root: None });
        let mut to = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&staged)?;
        std::io::copy(&mut from, &mut to)?;
        to.sync_all()
    }

    /// Stages a symlink to `target` for `link`; with `root`, a GC root of the
    /// store path `root` (see [`Step::Put`]).
    pub(super) fn symlink(&mut self, target: &Path, link: &Path, root: Option<&Path>) -> std::io::Result<()> {
        let staged = temp_sibling(link);
        self.steps.push(Step::Put {
            staged: staged.clone(),
            dest: link.to_path_buf(),
            root: root.map(Path::to_path_buf),
        });
        std::os::unix::fs::symlink(target, &staged)
    }

    /// A hidden temporary name beside `dest` for the caller to make a file or
    /// directory at, staged for `dest` (removed again unless committed).
    pub(super) fn staged_path(&mut self, dest: &Path) -> PathBuf {
        let staged = temp_sibling(dest);
        self.steps.push(Step::Put { staged: staged.clone(), dest: dest.to_path_buf(), root: None });
        staged
    }

    /// Stages the removal of `dest`, when it is there at the commit.
    pub(super) fn remove(&mut self, dest: &Path) {
        self.steps.push(Step::Remove { dest: dest.to_path_buf(), dir: false });
    }

    /// Stages the removal of `dest`, a file, link or directory tree.
    pub(super) fn remove_tree(&mut self, dest: &Path) {
        self.steps.push(Step::Remove { dest: dest.to_path_buf(), dir: true });
    }

    /// Commits the staged changes in order; see the type's documentation.
    /// `register_root(link, store_path)` registers `link` as an indirect GC
    /// root (it makes `link` a link to `store_path`); `registered(link)`
    /// says whether it is one already. On an error, what was changed is put
    /// back and the error of the failed step is returned. The old files stay
    /// aside until [`Committed::finish`] (or [`Committed::undo`]).
    pub(super) fn commit<E>(
        mut self,
        registered: &dyn Fn(&Path) -> bool,
        register_root: &mut dyn FnMut(&Path, &Path) -> Result<(), E>,
        io_err: &dyn Fn(&Path, std::io::Error) -> E,
    ) -> Result<Committed, E> {
        let steps = std::mem::take(&mut self.steps);
        let mut committed = Committed { done: Vec::new() };
        for (i, step) in steps.iter().enumerate() {
            if let Err(e) = commit_step(step, &mut committed.done, registered, register_root, io_err) {
                committed.undo();
                // The failed step and the ones after it: their staged files.
                for step in &steps[i..] {
                    if let Step::Put { staged, .. } = step {
                        let _ = remove_any(staged);
                    }
                }
                return Err(e);
            }
        }
        Ok(committed)
    }
}

/// A committed [`Transaction`] whose old files are still kept aside.
#[must_use = "finish() deletes the old files, undo() puts them back"]
pub(super) struct Committed {
    done: Vec<Done>,
}

impl Committed {
    /// Deletes what the commit replaced or removed.
    pub(super) fn finish(mut self) {
        for d in std::mem::take(&mut self.done) {
            if let Done::Kept { backup, .. } = d {
                let _ = remove_any(&backup);
            }
        }
    }

    /// Puts back what the commit changed, last first.
    pub(super) fn undo(mut self) {
        for d in std::mem::take(&mut self.done).into_iter().rev() {
            match d {
                Done::Made(dest) => {
                    let _ = remove_any(&dest);
                }
                Done::Kept { dest, backup } => {
                    let put_back = match std::fs::symlink_metadata(&dest) {
                        Ok(_) => exchange(&backup, &dest).and_then(|()| remove_any(&backup)),
                        Err(_) => std::fs::rename(&backup, &dest),
                    };
                    if put_back.is_err() {
                        // Keep going: every other step is undone.
                        let _ = std::fs::rename(&backup, &dest);
                    }
                }
            }
        }
    }
}

impl Drop for Committed {
    /// Neither finished nor undone (a panic on the way): the new state stays.
    fn drop(&mut self) {
        for d in std::mem::take(&mut self.done) {
            if let Done::Kept { backup, .. } = d {
                let _ = remove_any(&backup);
            }
        }
    }
}

fn commit_step<E>(
    step: &Step,
    done: &mut Vec<Done>,
    registered: &dyn Fn(&Path) -> bool,
    register_root: &mut dyn FnMut(&Path, &Path) -> Result<(), E>,
    io_err: &dyn Fn(&Path, std::io::Error) -> E,
) -> Result<(), E> {
    match step {
        Step::Remove { dest, dir } => {
            if !dir && dest.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                return Err(io_err(dest, is_a_directory()));
            }
            if dest.symlink_metadata().is_ok() {
                let backup = temp_sibling(dest);
                std::fs::rename(dest, &backup).map_err(|e| io_err(dest, e))?;
                done.push(Done::Kept { dest: dest.clone(), backup });
            }
            Ok(())
        }
        Step::Put { staged, dest, root } => {
            let existing = dest.symlink_metadata().ok();
            let staged_is_dir = staged.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false);
            if existing.as_ref().is_some_and(|m| m.is_dir()) && !staged_is_dir {
                return Err(io_err(dest, is_a_directory()));
            }
            if let Some(store_path) = root {
                if !registered(dest) {
                    // nix-store makes `dest` a link to the store path: what
                    // `dest` was (a copy of an earlier run) is kept aside.
                    match existing {
                        Some(_) => {
                            let backup = temp_sibling(dest);
                            std::fs::rename(dest, &backup).map_err(|e| io_err(dest, e))?;
                            done.push(Done::Kept { dest: dest.clone(), backup });
                        }
                        None => done.push(Done::Made(dest.clone())),
                    }
                    register_root(dest, store_path)?;
                    return std::fs::rename(staged, dest).map_err(|e| io_err(dest, e));
                }
            }
            match existing {
                Some(_) => {
                    let backup = temp_sibling(dest);
                    replace_keeping(staged, dest, &backup).map_err(|e| io_err(dest, e))?;
                    done.push(Done::Kept { dest: dest.clone(), backup });
                }
                None => {
                    std::fs::rename(staged, dest).map_err(|e| io_err(dest, e))?;
                    done.push(Done::Made(dest.clone()));
                }
            }
            Ok(())
        }
    }
}

fn is_a_directory() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory, and a file goes there; move it away")
}

impl Drop for Transaction {
    /// Not committed: the staged files go.
    fn drop(&mut self) {
        for step in &self.steps {
            if let Step::Put { staged, .. } = step {
                let _ = remove_any(staged);
            }
        }
    }
}

/// Removes the hidden temporaries ([`temp_sibling`] names) in `dir` that a
/// run which is no longer running left (one killed part-way): the process ID
/// in the name is not a live process.
pub(super) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = stale_pid(&name.to_string_lossy()) else { continue };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = remove_any(&e.path());
        }
    }
}

/// The process ID in a [`temp_sibling`] name `.NAME.tmp-PID-N` (or
/// `.NAME.tmp-PID`, the docker-archive writer's).
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let mut numbers = tail.split('-');
    let pid = numbers.next()?.parse().ok()?;
    match (numbers.next(), numbers.next()) {
        (None, _) => Some(pid),
        (Some(n), None) if n.parse::<u32>().is_ok() => Some(pid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(txn: Transaction) -> Result<Committed, std::io::Error> {
        txn.commit(&|_| true, &mut |_, _| Ok(()), &|_, e| e)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_commit_replaces_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let (link, f, gone) = (d.path().join("x.aci"), d.path().join("x.aci.asc"), d.path().join("old"));
        std::fs::write(&f, "one").unwrap();
        std::fs::write(&gone, "old").unwrap();
        std::os::unix::fs::symlink("/a", &link).unwrap();
        let mut txn = Transaction::default();
        txn.symlink(Path::new("/b"), &link, None).unwrap();
        txn.file(&f, b"two", 0o644).unwrap();
        txn.remove(&gone);
        txn.remove(&d.path().join("never-there"));
        // Staged, nothing a reader sees has changed.
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/a"));
        assert_eq!(std::fs::read(&f).unwrap(), b"one");
        commit(txn).unwrap().finish();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/b"));
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(names(d.path()), ["x.aci", "x.aci.asc"]);
    }

    #[test]
    fn a_failed_step_puts_back_every_step_before_it() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&b, "old b").unwrap();
        // A directory where a file goes: the third step fails.
        std::fs::create_dir(&c).unwrap();
        std::fs::write(c.join("keep"), "mine").unwrap();
        let mut txn = Transaction::default();
        txn.file(&a, b"new a", 0o644).unwrap();
        txn.remove(&b);
        txn.file(&d.path().join("new"), b"new", 0o644).unwrap();
        txn.file(&c, b"new c", 0o644).unwrap();
        txn.file(&d.path().join("after"), b"after", 0o644).unwrap();
        let e = commit(txn).err().expect("a directory at c");
        assert_eq!(e.kind(), std::io::ErrorKind::IsADirectory);
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(std::fs::read(&b).unwrap(), b"old b");
        assert_eq!(std::fs::read(c.join("keep")).unwrap(), b"mine");
        assert_eq!(names(d.path()), ["a", "b", "c"]);
        // Undone after a commit: the same.
        let mut txn = Transaction::default();
        txn.file(&a, b"new a", 0o644).unwrap();
        txn.remove(&b);
        let staged = txn.staged_path(&d.path().join("dir"));
        std::fs::create_dir(&staged).unwrap();
        commit(txn).unwrap().undo();
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(names(d.path()), ["a", "b", "c"]);
        // Not committed at all: the staged files go.
        let mut txn = Transaction::default();
        txn.file(&a, b"new a", 0o644).unwrap();
        drop(txn);
        assert_eq!(names(d.path()), ["a", "b", "c"]);
    }

    #[test]
    fn temporaries_of_dead_runs_are_found_by_name() {
        assert_eq!(stale_pid(".x.aci.tmp-123-4"), Some(123));
        assert_eq!(stale_pid(".x.tmp-y.aci.tmp-5-0"), Some(5));
        assert_eq!(stale_pid("x.aci.tmp-123-4"), None);
        assert_eq!(stale_pid(".x.aci.tmp-123"), Some(123));
        assert_eq!(stale_pid(".x.aci.tmp-123-4-5"), None);
        assert_eq!(stale_pid(".x.aci.tmp-a-4"), None);
        assert_eq!(stale_pid(".x.aci"), None);
        let d = tempfile::tempdir().unwrap();
        // No process has the ID u32::MAX; this one is alive.
        std::fs::write(d.path().join(format!(".x.tmp-{}-0", u32::MAX)), "").unwrap();
        std::fs::create_dir(d.path().join(format!(".y.tmp-{}-1", u32::MAX))).unwrap();
        std::fs::write(d.path().join(format!(".z.tmp-{}-0", std::process::id())), "").unwrap();
        std::fs::write(d.path().join(".hidden"), "").unwrap();
        remove_stale_temporaries(d.path());
        assert_eq!(names(d.path()), [".hidden".to_string(), format!(".z.tmp-{}-0", std::process::id())]);
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
