//! `mkaci postprocess [OPTIONS] [--] DIR RESULT...`, run by `result/postprocess.sh`.

use std::path::PathBuf;

use mkaci::publish::postprocess::{postprocess_then, ImageRead, Options, Placement};
use mkaci::publish::push::{self, PushOptions, PushRef};
use mkaci::publish::sign::Gpg;
use mkaci::publish::site::{BaseUrl, Scheme, Site};
use mkaci::result::shell_quote;

#[derive(clap::Args, Debug)]
pub(crate) struct PostprocessArgs {
    /// gpg program to sign with [default: gpg2, else gpg, on PATH]
    #[arg(long, env = "MKACI_GPG", value_name = "PATH")]
    gpg: Option<PathBuf>,
    /// Key to sign with: fingerprint, key ID or user ID, as for gpg --local-user
    /// [default: gpg's default key]
    #[arg(long, env = "MKACI_SIGN_KEY", value_name = "KEYID")]
    key: Option<String>,
    /// Copy the images into DIR instead of linking them (and registering the
    /// links as GC roots); the copies survive any garbage collection
    #[arg(long)]
    copy: bool,
    /// nix-store program that registers the links as GC roots [default: nix-store on PATH]
    #[arg(long, env = "MKACI_NIX_STORE", value_name = "PATH")]
    nix_store: Option<PathBuf>,
    /// Also publish the images into SITE, a static appc discovery site to
    /// serve at --base-url (docs/site.md); created if missing
    #[arg(long, value_name = "SITE", requires = "base_url")]
    site: Option<PathBuf>,
    /// The http(s) URL SITE is served at, e.g. https://example.com/aci/;
    /// every image name must begin with its host and path (example.com/aci/...)
    #[arg(long, value_name = "URL", requires = "site")]
    base_url: Option<String>,
    /// After DIR is written, send each OCI image of the results to REF:
    /// docker://HOST[:PORT]/NAME[:TAG] (a registry) or
    /// containers-storage:NAME[:TAG] (podman's local store); without :TAG
    /// the image's own tag. Repeatable. ACIs are never pushed (docs/oci.md)
    #[arg(long = "push", value_name = "REF")]
    push: Vec<PushRef>,
    /// --tls-verify=false: push to a registry on plain HTTP (or with a
    /// certificate not trusted), as skopeo's --dest-tls-verify=false
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: bool,
    /// Credentials for --push [default: REGISTRY_AUTH_FILE, else
    /// ${XDG_RUNTIME_DIR}/containers/auth.json, else ~/.docker/config.json,
    /// the first that exists]
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// skopeo program that pushes [default: skopeo on PATH]
    #[arg(long, env = "MKACI_SKOPEO", value_name = "PATH")]
    skopeo: Option<PathBuf>,
    /// Directory to publish into; created if missing
    dir: PathBuf,
    /// nix2aci results (what nix-build printed, e.g. ./result)
    #[arg(required = true, value_name = "RESULT")]
    results: Vec<PathBuf>,
}

/// Publishes, then prints what was done and what to run next.
pub(crate) fn run(args: PostprocessArgs) -> anyhow::Result<()> {
    let options = Options {
        // An empty MKACI_GPG / MKACI_SIGN_KEY / MKACI_NIX_STORE means "not set".
        gpg: args.gpg.filter(|g| !g.as_os_str().is_empty()),
        key: args.key.filter(|k| !k.is_empty()),
        copy: args.copy,
        nix_store: args.nix_store.filter(|n| !n.as_os_str().is_empty()),
    };
    // Pushes are checked before DIR is written (the values, the credentials
    // file, skopeo, and that the results hold OCI images) and done last, so
    // that a failed push leaves DIR whole.
    let push_options = PushOptions {
        skopeo: args.skopeo.clone().filter(|s| !s.as_os_str().is_empty()),
        tls_verify: args.tls_verify,
        authfile: if args.push.is_empty() { None } else { push::resolve_authfile(args.authfile.clone())? },
    };
    let mut acis = 0;
    if !args.push.is_empty() {
        let mut images = Vec::new();
        for r in &args.results {
            let index = mkaci::result::ResultDir::read(r)?.index;
            images.extend(index.oci_layouts.iter().map(|a| format!("{}:{}", a.name, a.tag)));
            images.extend(index.oci_indexes.iter().map(|a| format!("{}:{}", a.name, a.tag)));
            acis += index.artifacts.len();
        }
        push::check_targets(&args.push, &images, &args.results)?;
        push::check_skopeo(&push_options)?;
    }
    let site = match (args.site, args.base_url) {
        (Some(dir), Some(url)) => Some(Site::new(dir, BaseUrl::parse(&url)?)),
        _ => None,
    };
    // The site is locked for the whole run (another publisher waits), and
    // checked before DIR is written, so a refused site leaves both as they were.
    let _lock = match &site {
        Some(site) => {
            let lock = site.lock()?;
            site.check_results(&args.results)?;
            Some(lock)
        }
        None => None,
    };
    // The images are read again before signing with the reader inspect and
    // verify use, so that one reading decides what an image is.
    let read_image = |path: &std::path::Path| {
        mkaci::check::inspect::read_image(path)
            .map(|r| ImageRead { image_id: r.image_id, manifest: r.manifest_bytes })
            .map_err(|e| e.to_string())
    };
    // The site is written once DIR is, and a site that cannot be written
    // puts DIR back as it was.
    let gpg = options.gpg.clone();
    let (report, site_published) =
        postprocess_then(&args.dir, &args.results, &options, &read_image, |report| -> anyhow::Result<_> {
            match &site {
                Some(site) => {
                    Ok(Some(site.publish_report(report, &mut |fpr| Gpg::locate(gpg.as_deref())?.export_public(fpr))?))
                }
                None => Ok(None),
            }
        })?;
    for w in &report.warnings {
        eprintln!("mkaci: warning: {w}");
    }
    for p in &report.published {
        match p.placement {
            Placement::Copy => out!("Copied {} to {}", p.target.display(), p.aci.display()),
            Placement::Link { gc_root: true } => {
                out!("Linked {} -> {} (a GC root)", p.aci.display(), p.target.display())
            }
            Placement::Link { gc_root: false } => out!("Linked {} -> {}", p.aci.display(), p.target.display()),
        }
        if let Some(m) = &p.mounts {
            out!("Published {}", m.display());
        }
        if let Some(sbom) = &p.sbom {
            out!("Published {} (the closure SBOM)", sbom.display());
        }
        match &p.signature {
            Some((asc, signer)) if p.signature_kept => {
                out!("Unchanged: {} still signs this image with key {signer}; not signed again", asc.display())
            }
            Some((asc, signer)) => out!("Signed {} with key {signer}", asc.display()),
            None => out!("Not signed (sign = false): {}", p.aci.display()),
        }
    }
    for p in &report.oci {
        match p.placement {
            Placement::Copy => out!("Copied {} to {}", p.target.display(), p.layout.display()),
            Placement::Link { gc_root: true } => {
                out!("Linked {} -> {} (a GC root)", p.layout.display(), p.target.display())
            }
            Placement::Link { gc_root: false } => out!("Linked {} -> {}", p.layout.display(), p.target.display()),
        }
        if let Some(sbom) = &p.sbom {
            out!("Published {} (the closure SBOM)", sbom.display());
        }
        out!(
            "Wrote {} ({}, image ID {}; OCI images are not signed)",
            p.docker_archive.display(),
            p.reference(),
            p.image_id
        );
    }
    for p in &report.oci_indexes {
        match p.placement {
            Placement::Copy => out!("Copied {} to {}", p.target.display(), p.layout.display()),
            Placement::Link { gc_root: true } => {
                out!("Linked {} -> {} (a GC root)", p.layout.display(), p.target.display())
            }
            Placement::Link { gc_root: false } => out!("Linked {} -> {}", p.layout.display(), p.target.display()),
        }
        out!(
            "  the image index of {} ({}), {} platforms; OCI images are not signed",
            p.reference(),
            p.artifact.digests.index,
            p.archives.len()
        );
        for sbom in &p.sboms {
            out!("Published {} (a closure SBOM)", sbom.display());
        }
        for (platform, archive, id) in &p.archives {
            out!(
                "Wrote {} ({} for {platform}, image ID {id}; a docker-archive holds one platform's image, not the index)",
                archive.display(),
                p.reference()
            );
        }
    }
    if let Some((path, keys)) = &report.pubkey {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        out!("Exported public key {} to {}", keys.join(", "), path.display());
    }
    let mut site_cmds = Vec::new();
    if let (Some(site), Some(published)) = (&site, site_published) {
        for path in &published.kept {
            out!("The site holds {} already; left as it is", path.display());
        }
        out!("Site {} for {}: {} files written", site.dir.display(), site.base, published.written.len());
        // Plain http needs rkt's insecure options for http, and nothing more.
        let http = site.base.scheme() == Scheme::Http;
        site_cmds.push(format!(
            "sudo rkt trust --prefix={}{}   # when {} serves the site",
            shell_quote(site.base.prefix()),
            if http { " --insecure-allow-http" } else { "" },
            site.base
        ));
        let mut insecure: Vec<&str> = Vec::new();
        if http {
            insecure.push("http");
        }
        if published.unsigned {
            insecure.push("image");
        }
        let opts =
            if insecure.is_empty() { String::new() } else { format!(" --insecure-options={}", insecure.join(",")) };
        // Dependency images have no app: rkt fetches them (a layered app's
        // run would find them by discovery too), and runs only the apps.
        if !published.dependencies.is_empty() {
            let deps: Vec<String> = published.dependencies.iter().map(|r| shell_quote(r)).collect();
            site_cmds.push(format!("sudo rkt fetch{opts} {}", deps.join(" ")));
        }
        for reference in &published.references {
            site_cmds.push(format!("sudo rkt run{opts} {}", shell_quote(reference)));
        }
    }
    // Last: the pushes, once DIR is whole.
    let mut pushed_to = Vec::new();
    if !args.push.is_empty() && acis > 0 {
        out!("Not pushed: {acis} ACI(s); ACIs do not go to registries (publish them with --site)");
    }
    for target in &args.push {
        let sources = report.oci.iter().map(|p| (p.reference(), &p.push)).chain(
            report
                .oci_indexes
                .iter()
                .map(|p| (format!("{} (the image index, every platform)", p.reference()), &p.push)),
        );
        for (reference, source) in sources {
            let started = std::time::Instant::now();
            let done = push::push(source, target, &push_options)?;
            out!(
                "Pushed {} to {}: {} bytes sent ({} blobs), {} bytes skipped ({} blobs {} had already), manifest {} bytes{}, in {:.2} s",
                reference,
                done.destination,
                done.sent_bytes,
                done.sent_blobs,
                done.skipped_bytes,
                done.skipped_blobs,
                target.registry(),
                done.manifest_bytes,
                done.digest.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                started.elapsed().as_secs_f64()
            );
            pushed_to.push((target.clone(), done.destination));
        }
    }
    // The verify command names this very mkaci, which need not be on PATH.
    let mkaci = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mkaci"));
    out!("Next:");
    let push_cmds = pushed_to.iter().map(|(target, dest)| match &target.dest {
        push::Destination::Registry { .. } => {
            let tls = if args.tls_verify { "" } else { " --tls-verify=false" };
            format!("podman pull{tls} {}", shell_quote(dest.trim_start_matches("docker://")))
        }
        push::Destination::ContainersStorage { store, .. } => {
            let rest = dest.trim_start_matches("containers-storage:");
            let name = store.as_deref().and_then(|s| rest.strip_prefix(s)).unwrap_or(rest);
            format!("podman image inspect {}", shell_quote(name))
        }
    });
    for cmd in
        report.next_commands(&mkaci).into_iter().chain(report.oci_next_commands()).chain(site_cmds).chain(push_cmds)
    {
        out!("  {cmd}");
    }
    Ok(())
}
