//! `mkaci build`: the derivation builder. Reads the structured attrs, plans the
//! rootfs, writes the image and the files beside it (see `docs/result-layout.md`).
//!
//! Inside the sandbox it finds `.attrs.json` by itself and writes `outputs.out`;
//! outside, `--attrs FILE --out DIR` does the same for tests and benchmarks.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::archive::{self, ArchiveOptions, ArchiveSummary};
use crate::attrs::Attrs;
use crate::closure::Closure;
use crate::manifest::{self, SpecContext};
use crate::plan::{self, ImagePath, PlanInput};
use crate::postprocess::index::{RawImage, RawIndex, INDEX_FILE, INDEX_VERSION};
use crate::postprocess::shell_quote;
use crate::store_path::{StoreDir, StorePath};

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The structured attrs; by default `NIX_ATTRS_JSON_FILE` or `$NIX_BUILD_TOP/.attrs.json`.
    #[arg(long)]
    pub attrs: Option<PathBuf>,
    /// Output directory; by default `outputs.out` from the attrs.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compression threads; 0 means one per core. The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// What a build produced, for the summary line and for tests.
#[derive(Debug)]
pub struct BuildOutcome {
    pub out: PathBuf,
    pub image: RawImage,
    pub archive: ArchiveSummary,
}

pub fn run(args: BuildArgs) -> anyhow::Result<()> {
    let attrs_path = match args.attrs {
        Some(p) => p,
        None => Attrs::locate()?,
    };
    let attrs = Attrs::from_file(&attrs_path)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&attrs.outputs.out));
    let mkaci = match &attrs.mkaci {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe().context("cannot find mkaci's own path for postprocess.sh")?,
    };
    let started = std::time::Instant::now();
    let outcome = build(&attrs, &out, &mkaci, args.threads)?;
    let a = &outcome.archive;
    eprintln!(
        "mkaci: wrote {} ({}, {} entries, {} bytes of tar, {} bytes compressed)",
        outcome.out.join(&outcome.image.file).display(),
        a.image_id,
        a.entries,
        a.tar_size,
        a.compressed_size
    );
    // One machine-readable line for scripts/bench, which reads the Nix build log.
    eprintln!(
        "mkaci: stats seconds={:.3} tar_bytes={} compressed_bytes={} entries={} peak_rss_kib={}",
        started.elapsed().as_secs_f64(),
        a.tar_size,
        a.compressed_size,
        a.entries,
        peak_rss_kib().map(|k| k.to_string()).unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

/// The process's peak resident set size (`VmHWM`), all threads included.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Builds the image described by `attrs` into the directory `out`. The directory
/// appears whole or not at all: everything is written into a staging directory
/// beside it, renamed at the end.
pub fn build(attrs: &Attrs, out: &Path, mkaci: &Path, threads: usize) -> anyhow::Result<BuildOutcome> {
    let spec = &attrs.aci;
    let store = StoreDir::new(attrs.store_dir.as_deref().unwrap_or(crate::store_path::DEFAULT_STORE_DIR))
        .context("storeDir")?;
    let closure = Closure::from_raw(&store, &attrs.closure).context("closure")?;
    if spec.packages.is_empty() {
        bail!("packages: the list is empty; give mkACI at least one package, e.g. packages = [ pkgs.busybox ]");
    }
    let packages = spec
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| store.parse_path(p).with_context(|| format!("packages[{i}] = {p:?}")))
        .collect::<anyhow::Result<Vec<StorePath>>>()?;

    let thin_mounts: Vec<StorePath> =
        if spec.thin { closure.paths().iter().map(|p| p.path.clone()).collect() } else { Vec::new() };
    let resolved =
        manifest::from_spec(spec, &SpecContext { system: &attrs.system, store: &store, thin_mounts: &thin_mounts })?;

    // from_spec has validated the mount paths; the plan creates their directories.
    let mount_targets: Vec<(String, ImagePath)> = spec
        .mounts
        .iter()
        .chain(spec.mounts_ro.iter())
        .filter_map(|(name, path)| ImagePath::from_absolute(path).map(|p| (name.clone(), p)))
        .collect();
    let planned = plan::plan_rootfs(&PlanInput {
        store: &store,
        closure: &closure,
        packages: &packages,
        thin: spec.thin,
        dnsquirks: spec.dnsquirks,
        mount_targets: &mount_targets,
    })?;
    let mut resolved = resolved;
    if let Some(app) = &mut resolved.manifest.app {
        planned.check_exec(app.exec.program())?;
        if let Some(wd) = &app.working_directory {
            planned.check_working_directory(wd.as_str())?;
        }
        if spec.thin {
            // rkt resolves exec[0] before it mounts the volumes, when a link such as
            // /bin/sh -> /nix/store/... still points at an empty placeholder
            // (appc.md §4). So a thin image names the store file itself.
            let target = planned.resolve_into_store(app.exec.program()).expect("checked above");
            if target != app.exec.program() {
                let mut args = app.exec.args().to_vec();
                args[0] = target;
                app.exec = manifest::Exec::new(args).expect("a resolved path is absolute");
            }
        }
    }
    let m = &resolved.manifest;

    let file = resolved.file_name.clone();
    let base = file.strip_suffix(".aci").unwrap_or(&file).to_string();
    let staging = Staging::new(out)?;
    let summary = archive::write_aci(
        &m.to_canonical_json(),
        &planned.plan,
        &staging.dir.join(&file),
        &ArchiveOptions { compression: resolved.compression, threads },
    )?;

    let manifest_file = format!("{base}.manifest");
    staging.write(&manifest_file, &m.to_pretty_json(), 0o444)?;
    staging.write(&format!("{base}.id"), format!("{}\n", summary.image_id).as_bytes(), 0o444)?;
    let mounts = if spec.thin {
        let name = format!("{base}.mounts");
        staging.write(&name, mounts_line(&store, &thin_mounts).as_bytes(), 0o444)?;
        Some(name)
    } else {
        None
    };
    let label = |n: &str| m.label(n).map(str::to_string);
    let image = RawImage {
        file: file.clone(),
        name: m.name.to_string(),
        version: label("version"),
        os: label("os").unwrap_or_default(),
        arch: label("arch").unwrap_or_default(),
        image_id: summary.image_id.to_string(),
        manifest: manifest_file,
        mounts,
        thin: spec.thin,
        sign: resolved.sign,
    };
    let index = RawIndex { nix2aci: INDEX_VERSION, images: vec![image] };
    let mut json = serde_json::to_vec_pretty(&index)?;
    json.push(b'\n');
    staging.write(INDEX_FILE, &json, 0o444)?;
    staging.write("postprocess.sh", postprocess_script(mkaci, out).as_bytes(), 0o555)?;
    staging.commit()?;
    let image = index.images.into_iter().next().expect("one image");
    Ok(BuildOutcome { out: out.to_path_buf(), image, archive: summary })
}

/// The `.mounts` line: one rkt `--volume` per closure path, in store order.
pub fn mounts_line(store: &StoreDir, mounts: &[StorePath]) -> String {
    let mut line = mounts
        .iter()
        .map(|p| format!("--volume=nix-{},kind=host,source={},readOnly=true", p.hash(), store.display(p)))
        .collect::<Vec<_>>()
        .join(" ");
    line.push('\n');
    line
}

fn postprocess_script(mkaci: &Path, out: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         # Generated by mkaci build: links (and signs) this result's images into DIR.\n\
         # Usage: ./result/postprocess.sh [DIR] [mkaci postprocess options...]   (DIR defaults to ACIs)\n\
         set -e\n\
         dir=\"${{1:-ACIs}}\"\n\
         [ \"$#\" -gt 0 ] && shift\n\
         exec {} postprocess \"$@\" -- \"$dir\" {}\n",
        shell_quote(&mkaci.to_string_lossy()),
        shell_quote(&out.to_string_lossy())
    )
}

/// A directory beside the final output that becomes it on [`Staging::commit`], and
/// is removed if dropped before.
struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    fn new(out: &Path) -> anyhow::Result<Self> {
        let name = out.file_name().with_context(|| format!("output path {} has no file name", out.display()))?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if out.exists() && !is_replaceable(out) {
            bail!(
                "output directory {} exists and is not an earlier mkaci result; choose another --out or remove it",
                out.display()
            );
        }
        let dir = parent.join(format!(".{}.mkaci-partial-{}", name.to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Staging { dir, out: out.to_path_buf(), committed: false })
    }

    fn write(&self, name: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    fn commit(mut self) -> anyhow::Result<()> {
        if self.out.exists() {
            let old = self.dir.with_extension("old");
            std::fs::rename(&self.out, &old)
                .with_context(|| format!("cannot move the earlier result {} aside", self.out.display()))?;
            make_writable(&old);
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(&self.dir, &self.out)
            .with_context(|| format!("cannot rename {} to {}", self.dir.display(), self.out.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// An existing output may be replaced when it is empty or an earlier mkaci result.
fn is_replaceable(out: &Path) -> bool {
    out.join(INDEX_FILE).is_file() || std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false)
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_line_lists_every_path() {
        let m = vec![
            StorePath::from_base_name(&format!("{}-x", "a".repeat(32))).unwrap(),
            StorePath::from_base_name(&format!("{}-y", "b".repeat(32))).unwrap(),
        ];
        assert_eq!(
            mounts_line(&StoreDir::default(), &m),
            format!(
                "--volume=nix-{a},kind=host,source=/nix/store/{a}-x,readOnly=true --volume=nix-{b},kind=host,source=/nix/store/{b}-y,readOnly=true\n",
                a = "a".repeat(32),
                b = "b".repeat(32)
            )
        );
    }

    #[test]
    fn script_quotes_paths() {
        let s = postprocess_script(Path::new("/nix/store/x-mkaci/bin/mkaci"), Path::new("/tmp/it's"));
        assert!(s.contains(r"exec /nix/store/x-mkaci/bin/mkaci postprocess "), "{s}");
        assert!(s.contains(r#" -- "$dir" '/tmp/it'\''s'"#), "{s}");
    }
}
