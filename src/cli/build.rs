//! `mkaci build`: inside the sandbox it finds `.attrs.json` by itself and writes
//! `outputs.out`; outside, `--attrs FILE --out DIR` does the same for tests and
//! benchmarks.

use std::path::PathBuf;

use anyhow::Context;

use mkaci::nix::attrs::Attrs;

#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// The structured attrs; by default `NIX_ATTRS_JSON_FILE` or `$NIX_BUILD_TOP/.attrs.json`.
    #[arg(long)]
    attrs: Option<PathBuf>,
    /// Output directory; by default `outputs.out` from the attrs.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compression threads; 0 means one per core. The output does not depend
    /// on it. Inside a Nix build, Nix's `cores` setting (NIX_BUILD_CORES)
    /// gives the default.
    #[arg(long)]
    threads: Option<usize>,
    /// Do not check the store paths against the NAR hashes of the closure
    /// while packing them (checked by default).
    #[arg(long)]
    no_verify_store: bool,
}

pub(crate) fn run(args: BuildArgs) -> anyhow::Result<()> {
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
    let threads = mkaci::archive::compression_threads(args.threads.map_or_else(nix_build_cores, Ok)?);
    let opts = mkaci::build::BuildOptions { threads, verify_store: !args.no_verify_store };
    // A fat image packs about the closure's NAR size of tar; a thin one
    // packs no store contents, so it has no estimate.
    let expected = (!attrs.aci.thin).then(|| attrs.closure.iter().map(|p| p.nar_size).sum::<Option<u64>>()).flatten();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let reporter = std::thread::spawn(move || report_progress(started, expected, stopped));
    let outcome = mkaci::build::build_with(&attrs, &out, &mkaci, &opts);
    drop(stop);
    let _ = reporter.join();
    let outcome = outcome?;
    let (mut tar, mut compressed, mut entries) = (0, 0, 0);
    let mut foreign = mkaci::archive::ForeignElf::default();
    // Each archive written, named by its index entry (a declared layer's
    // entry links to an archive built elsewhere, and has none here).
    for a in &outcome.archives {
        let file = outcome.index.artifacts.iter().find(|x| x.digests.image_id == a.image_id).map(|x| &x.files.image);
        eprintln!(
            "mkaci: wrote {} ({}, {} entries, {} bytes of tar, {} bytes compressed)",
            file.map(|f| outcome.out.join(f).display().to_string()).unwrap_or_else(|| "an image".into()),
            a.image_id,
            a.entries,
            a.tar_size,
            a.compressed_size
        );
        tar += a.tar_size;
        compressed += a.compressed_size;
        entries += a.entries;
        foreign.add(&a.foreign_elf);
    }
    for (artifact, l) in outcome.index.oci_layouts.iter().zip(&outcome.layouts) {
        eprintln!(
            "mkaci: wrote {} ({} layers, config {}, {} entries, {} bytes of tar, {} bytes compressed)",
            outcome.out.join(&artifact.files.layout).display(),
            l.layers.len(),
            l.config.digest,
            l.entries(),
            l.tar_size(),
            l.compressed_size()
        );
        tar += l.tar_size();
        compressed += l.compressed_size();
        entries += l.entries();
        for layer in &l.layers {
            foreign.add(&layer.foreign_elf);
        }
    }
    // ELF files for another machine than the image's: one line, since
    // toolchains carry them legitimately (the exec itself was checked).
    if let Some((example, machine)) = &foreign.example {
        eprintln!(
            "mkaci: warning: the image holds {} ELF file(s) for another machine than its own, e.g. /{example} ({}); fine for a toolchain's cross libraries, otherwise build the packages for the image's targetSystem",
            foreign.count,
            mkaci::image::elf::machine_name(*machine)
        );
    }
    // One machine-readable line for scripts/bench, which reads the Nix build
    // log. The CPU seconds of the reader and of the serial thread bound the
    // speed on any number of cores: tar_bytes / the larger of the two.
    let cpu = mkaci::archive::stage_cpu();
    eprintln!(
        "mkaci: stats seconds={:.3} tar_bytes={tar} compressed_bytes={compressed} entries={entries} peak_rss_kib={} reader_cpu_s={:.3} serial_cpu_s={:.3} threads={threads}",
        started.elapsed().as_secs_f64(),
        peak_rss_kib().map(|k| k.to_string()).unwrap_or_else(|| "unknown".into()),
        cpu.reader_s,
        cpu.serial_s,
    );
    Ok(())
}

/// The cores Nix lets a build use: `NIX_BUILD_CORES`, which Nix sets from
/// its `cores` setting (0: all of them); 0 when unset (outside Nix).
fn nix_build_cores() -> anyhow::Result<usize> {
    match std::env::var("NIX_BUILD_CORES") {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "NIX_BUILD_CORES = {v:?} is not a number of cores; Nix sets it from its `cores` setting: \
                 give `cores` a number (0 for all cores), or pass mkaci build --threads N"
            )
        }),
    }
}

/// How often a long build says how far it has got.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Prints a progress line to stderr (so into the Nix build log) every
/// [`PROGRESS_EVERY`] until `stop` is dropped: tar bytes and entries so far,
/// the rate, and with `expected` bytes the share done and the time left.
/// A build that ends sooner prints none.
fn report_progress(started: std::time::Instant, expected: Option<u64>, stop: std::sync::mpsc::Receiver<()>) {
    const MB: f64 = 1e6;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(PROGRESS_EVERY) {
        let p = mkaci::archive::progress();
        let secs = started.elapsed().as_secs_f64();
        let mut line = format!(
            "mkaci: progress {:.1} MB of tar, {} entries, {:.1} MB/s",
            p.tar_bytes as f64 / MB,
            p.entries,
            p.tar_bytes as f64 / MB / secs
        );
        if let Some(total) = expected.filter(|&t| t > 0) {
            // The store contents read, against the closure's NAR size.
            let done = p.store_nar_bytes.min(total);
            line.push_str(&format!(
                ", store {:.0}% of {:.1} MB",
                100.0 * done as f64 / total as f64,
                total as f64 / MB
            ));
            if done > 0 {
                let left = (total - done) as f64 * secs / done as f64;
                line.push_str(&format!(", about {left:.0} s left"));
            }
        }
        eprintln!("{line}");
    }
}

/// The process's peak resident set size (`VmHWM`), all threads included.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
