//! The mkACI arguments as an OCI image: which ones have no OCI meaning (and
//! are refused), and how the rest become the image config and the manifest
//! annotations. `docs/oci.md` has the table.
//!
//! The arguments are first turned into an appc manifest by
//! [`crate::image::spec::from_spec`], so every value is checked by the same rules,
//! and reported under the same argument names, as for an ACI. The config is
//! then read off that validated manifest:
//!
//! | manifest | OCI |
//! |---|---|
//! | `app.exec` | `Entrypoint` = `exec[0]`, `Cmd` = the rest |
//! | `app.environment` | `Env`, `NAME=value` in name order |
//! | `app.ports` | `ExposedPorts`, `<port>/<protocol>` for each of `count` ports |
//! | `app.mountPoints` | `Volumes`, by path (read-only is not expressible) |
//! | `app.user`, `app.group` | `User` = `user:group` |
//! | `app.workingDirectory` | `WorkingDir` |
//! | `labels` argument | `Labels` |
//! | `annotations` | manifest annotations (`created`, `authors`, `homepage`, `documentation` under their `org.opencontainers.image.*` names) |
//! | `created` annotation | `created` of the config and of each history entry |

use std::collections::BTreeMap;

use crate::archive::Compression;
use crate::image::manifest::ImageManifest as AppcManifest;
use crate::image::spec::DEFAULT_CREATED;
use crate::nix::attrs::{AciSpec, OciSpec};
use crate::nix::names::OciPlatform;

use super::types::{Empty, History, ImageConfig, RootFs, RunConfig, ANNOTATION_CREATED, ANNOTATION_VERSION};
use crate::archive::digest::Sha256Digest;

/// Why the arguments cannot become an OCI image. Each message names the
/// `mkOCI` argument, shows the value and says the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciSpecError {
    #[error("format: \"oci\" needs the `oci` attribute (tag, maxLayers); build with nix2aci's mkOCI")]
    MissingOciAttrs,
    #[error("{argument}: {value} has no meaning in an OCI image ({why}); remove `{argument}` from the mkOCI call, or build an ACI with mkACI")]
    NoOciMeaning { argument: &'static str, value: String, why: &'static str },
    #[error("ports: the port {name:?} is socket-activated, which has no OCI equivalent; drop socketActivated from it")]
    SocketActivated { name: String },
    #[error(
        "compression: {value:?} is not an OCI layer compression; use \"gzip\" (the default), \"zstd\" or \"none\""
    )]
    Compression { value: String },
    #[error("tag: {value:?} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}); pass tag = {suggestion:?}")]
    Tag { value: String, suggestion: String },
    #[error("maxLayers: {value} is too small: an image needs one layer for the store and one for the top-level tree; use 2 or more (default 100)")]
    MaxLayers { value: u32 },
    #[error("name: {value:?} contains '~', which an image reference (name:tag, as podman and docker load it) cannot hold; pass a name without '~', e.g. {suggestion:?}")]
    NameNotAReference { value: String, suggestion: String },
    #[error(
        "labels.{name}: {name:?} is reserved: mkaci sets this config label to the SHA-256 of the \
         image's closure SBOM (<base>.closure.json); remove it from labels"
    )]
    ReservedLabel { name: String },
    #[error("system: {system:?} has no known OCI platform; build on one of the systems of src/names.json's ociPlatforms (x86_64-linux, aarch64-linux, ...)")]
    UnknownPlatform { system: String },
    #[error("fileName: nix/mkOCI.nix computed the layout name {nix:?} but mkaci computes {ours:?}; use the mkaci that comes with this nix2aci")]
    DirNameMismatch { nix: String, ours: String },
}

/// Checks the arguments that mean nothing for an OCI image, the OCI-only
/// ones and the name, before anything is built.
pub fn check_spec(spec: &AciSpec, oci: &OciSpec) -> Result<(), OciSpecError> {
    let refuse = |argument, value: String, why| Err(OciSpecError::NoOciMeaning { argument, value, why });
    if spec.thin {
        return refuse(
            "thin",
            "true".into(),
            "an OCI image cannot ask for host mounts of the store; its layers hold the closure",
        );
    }
    if let Some(v) = &spec.isolators {
        return refuse(
            "isolators",
            v.to_string(),
            "the image config has no resource or capability limits; give them to the engine, e.g. podman run --memory",
        );
    }
    if let Some(v) = &spec.event_handlers {
        return refuse("eventHandlers", v.to_string(), "the image config has no pre-start or post-stop hooks");
    }
    if !spec.supplementary_gids.is_empty() {
        return refuse(
            "supplementaryGIDs",
            serde_json::Value::Array(spec.supplementary_gids.clone()).to_string(),
            "the image config has no supplementary groups; give them to the engine, e.g. podman run --group-add",
        );
    }
    if let Some(v) = &spec.os {
        return refuse("os", format!("{v:?}"), "the OCI os comes from `system`");
    }
    if let Some(v) = &spec.arch {
        return refuse("arch", format!("{v:?}"), "the OCI architecture comes from `system`");
    }
    if let Some(c) = spec.compression.as_deref().filter(|c| !matches!(*c, "gzip" | "zstd" | "none")) {
        return Err(OciSpecError::Compression { value: c.to_string() });
    }
    if !is_valid_tag(&oci.tag) {
        return Err(OciSpecError::Tag { value: oci.tag.clone(), suggestion: tag_suggestion(&oci.tag) });
    }
    if oci.max_layers < 2 {
        return Err(OciSpecError::MaxLayers { value: oci.max_layers });
    }
    if spec.labels.contains_key(crate::image::sbom::ANNOTATION) {
        return Err(OciSpecError::ReservedLabel { name: crate::image::sbom::ANNOTATION.to_string() });
    }
    if let Some(name) = spec.name.as_deref().filter(|n| n.contains('~')) {
        return Err(OciSpecError::NameNotAReference { value: name.to_string(), suggestion: name.replace('~', "-") });
    }
    Ok(())
}

/// Checks what only the validated manifest shows: a socket-activated port.
pub fn check_manifest(m: &AppcManifest) -> Result<(), OciSpecError> {
    let app = m.app.as_ref().expect("from_spec always gives an app");
    match app.ports.iter().find(|p| p.socket_activated) {
        Some(p) => Err(OciSpecError::SocketActivated { name: p.name.to_string() }),
        None => Ok(()),
    }
}

/// Whether the compression the spec resolved to is one OCI layers have
/// (never xz: [`check_spec`] refuses it first).
pub fn layer_compression(c: Compression) -> Result<Compression, OciSpecError> {
    match c {
        Compression::Xz { .. } => Err(OciSpecError::Compression { value: "xz".into() }),
        c => Ok(c),
    }
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.' || *c == b'-';
    !b.is_empty() && b.len() <= 128 && (b[0].is_ascii_alphanumeric() || b[0] == b'_') && b.iter().all(ok)
}

fn tag_suggestion(tag: &str) -> String {
    let mut s: String =
        tag.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    if s.starts_with(['.', '-']) || s.is_empty() {
        s.insert(0, '_');
    }
    s.truncate(128);
    s
}

/// What the image config is made of besides the layers.
#[derive(Debug, Clone, Copy)]
pub struct ConfigInput<'a> {
    /// The appc manifest [`crate::image::spec::from_spec`] made and validated.
    pub manifest: &'a AppcManifest,
    /// The `labels` argument, as given (the manifest also holds os, arch
    /// and version labels, which OCI keeps elsewhere).
    pub labels: &'a BTreeMap<String, String>,
    pub platform: &'a OciPlatform,
}

impl ConfigInput<'_> {
    /// `created`: the `created` annotation, else the fixed default.
    pub fn created(&self) -> String {
        self.manifest.annotation("created").unwrap_or(DEFAULT_CREATED).to_string()
    }

    /// The run configuration.
    pub fn run_config(&self) -> RunConfig {
        // A declared layer's image has no app: nothing to run, only labels.
        let Some(app) = self.manifest.app.as_ref() else {
            return RunConfig { labels: self.labels.clone(), ..RunConfig::default() };
        };
        let args = app.exec.args();
        let mut exposed_ports = BTreeMap::new();
        for p in &app.ports {
            for n in 0..p.count {
                exposed_ports.insert(format!("{}/{}", u32::from(p.port) + n, p.protocol), Empty {});
            }
        }
        RunConfig {
            user: Some(format!("{}:{}", app.user, app.group)),
            exposed_ports,
            env: app.environment.iter().map(|e| format!("{}={}", e.name.as_str(), e.value)).collect(),
            entrypoint: args[..1].to_vec(),
            cmd: args[1..].to_vec(),
            volumes: app.mount_points.iter().map(|m| (m.path.as_str().to_string(), Empty {})).collect(),
            working_dir: app.working_directory.as_ref().map(|w| w.as_str().to_string()),
            labels: self.labels.clone(),
        }
    }

    /// The image config for layers with these `diff_ids` (bottom first) and
    /// what made each (`created_by`).
    pub fn image_config(&self, diff_ids: Vec<Sha256Digest>, made_by: Vec<String>) -> ImageConfig {
        let created = self.created();
        ImageConfig {
            created: created.clone(),
            architecture: self.platform.architecture.clone(),
            os: self.platform.os.clone(),
            variant: self.platform.variant.clone(),
            config: self.run_config(),
            rootfs: RootFs { kind: "layers".into(), diff_ids },
            history: made_by
                .into_iter()
                .map(|created_by| History { created: created.clone(), created_by, comment: None })
                .collect(),
        }
    }

    /// The manifest annotations: the `annotations` argument, the well-known
    /// appc ones under their OCI names, the version.
    pub fn manifest_annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(ANNOTATION_CREATED.to_string(), self.created());
        for a in &self.manifest.annotations {
            let name = match a.name.as_str() {
                "created" => continue,
                "authors" => "org.opencontainers.image.authors",
                "homepage" => "org.opencontainers.image.url",
                "documentation" => "org.opencontainers.image.documentation",
                other => other,
            };
            out.insert(name.to_string(), a.value.clone());
        }
        if let Some(v) = self.manifest.label("version") {
            out.entry(ANNOTATION_VERSION.to_string()).or_insert_with(|| v.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::spec::{from_spec, SpecContext};
    use crate::nix::store_path::StoreDir;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> AciSpec {
        let mut base = json!({"packages": ["/nix/store/00000000000000000000000000000000-p"], "defaultName": "busybox",
            "exec": ["/bin/busybox", "sh", "-c", "echo hi"], "user": "0", "group": "0", "dnsquirks": true});
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn oci() -> OciSpec {
        OciSpec { tag: "1.0".into(), max_layers: 100, dir_name: None, layers: Vec::new(), cached_layers: Vec::new() }
    }

    #[test]
    fn arguments_map_to_the_config() {
        let s = spec(json!({
            "version": "1.0",
            "env": {"PATH": "/bin", "A": "x=y"},
            "ports": [{"name": "http", "protocol": "tcp", "port": 8080}, {"name": "dns", "protocol": "udp", "port": 53, "count": 2}],
            "mounts": {"data": "/var/lib/data"},
            "mountsRo": {"conf": "/etc/app"},
            "user": "app", "group": "users",
            "workingDirectory": "/srv",
            "labels": {"team": "infra"},
            "annotations": {"authors": "me", "homepage": "https://example.com", "x-note": "n"}
        }));
        check_spec(&s, &oci()).unwrap();
        let store = StoreDir::default();
        let r = from_spec(&s, &SpecContext { system: "aarch64-linux", store: &store, thin_mounts: &[] }).unwrap();
        let platform = crate::nix::names::oci_platform_of_system("aarch64-linux").unwrap();
        let input = ConfigInput { manifest: &r.manifest, labels: &s.labels, platform };
        let d = crate::archive::digest::of_bytes(b"x");
        let c = input.image_config(vec![d], vec!["mkaci".into()]);
        let json: serde_json::Value = serde_json::from_slice(&super::super::types::to_json(&c)).unwrap();
        assert_eq!(
            json,
            json!({
                "created": "1970-01-01T00:00:01Z",
                "architecture": "arm64",
                "os": "linux",
                "config": {
                    "User": "app:users",
                    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "54/udp": {}},
                    "Env": ["A=x=y", "PATH=/bin"],
                    "Entrypoint": ["/bin/busybox"],
                    "Cmd": ["sh", "-c", "echo hi"],
                    "Volumes": {"/var/lib/data": {}, "/etc/app": {}},
                    "WorkingDir": "/srv",
                    "Labels": {"team": "infra"}
                },
                "rootfs": {"type": "layers", "diff_ids": [d.to_string()]},
                "history": [{"created": "1970-01-01T00:00:01Z", "created_by": "mkaci"}]
            })
        );
        let a = input.manifest_annotations();
        assert_eq!(
            a,
            [
                ("org.opencontainers.image.created", "1970-01-01T00:00:01Z"),
                ("org.opencontainers.image.authors", "me"),
                ("org.opencontainers.image.url", "https://example.com"),
                ("org.opencontainers.image.version", "1.0"),
                ("x-note", "n"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        );
    }

    #[test]
    fn created_comes_from_the_annotation() {
        let s = spec(json!({"annotations": {"created": "2024-05-06T07:08:09Z"}}));
        let store = StoreDir::default();
        let r = from_spec(&s, &SpecContext { system: "x86_64-linux", store: &store, thin_mounts: &[] }).unwrap();
        let platform = crate::nix::names::oci_platform_of_system("x86_64-linux").unwrap();
        let input = ConfigInput { manifest: &r.manifest, labels: &s.labels, platform };
        let c = input.image_config(vec![], vec![]);
        assert_eq!(c.created, "2024-05-06T07:08:09Z");
        assert_eq!((c.os.as_str(), c.architecture.as_str()), ("linux", "amd64"));
        assert_eq!(c.config.cmd, vec!["sh", "-c", "echo hi"]);
        assert_eq!(input.manifest_annotations()["org.opencontainers.image.created"], "2024-05-06T07:08:09Z");
    }

    #[test]
    fn arguments_without_oci_meaning_are_refused() {
        let cases = [
            (json!({"thin": true}), "thin"),
            (json!({"isolators": {"os/linux/no-new-privileges": true}}), "isolators"),
            (json!({"eventHandlers": {"pre-start": ["/bin/true"]}}), "eventHandlers"),
            (json!({"supplementaryGIDs": [10]}), "supplementaryGIDs"),
            (json!({"os": "linux"}), "os"),
            (json!({"arch": "amd64"}), "arch"),
        ];
        for (v, arg) in cases {
            match check_spec(&spec(v.clone()), &oci()) {
                Err(OciSpecError::NoOciMeaning { argument, .. }) => assert_eq!(argument, arg, "{v}"),
                other => panic!("{v}: {other:?}"),
            }
        }
        assert_eq!(
            check_spec(&spec(json!({"compression": "xz"})), &oci()),
            Err(OciSpecError::Compression { value: "xz".into() })
        );
        assert_eq!(
            check_spec(&spec(json!({})), &OciSpec { tag: "1.0+git".into(), ..oci() }),
            Err(OciSpecError::Tag { value: "1.0+git".into(), suggestion: "1.0_git".into() })
        );
        assert_eq!(
            check_spec(&spec(json!({})), &OciSpec { max_layers: 1, ..oci() }),
            Err(OciSpecError::MaxLayers { value: 1 })
        );
        assert_eq!(
            check_spec(&spec(json!({"labels": {"nix2aci.org/closure-sha256": "x"}})), &oci()),
            Err(OciSpecError::ReservedLabel { name: "nix2aci.org/closure-sha256".into() })
        );
        assert_eq!(
            check_spec(&spec(json!({"name": "example.com/my~tool"})), &oci()),
            Err(OciSpecError::NameNotAReference {
                value: "example.com/my~tool".into(),
                suggestion: "example.com/my-tool".into()
            })
        );
        let s = spec(json!({"ports": [{"name": "http", "protocol": "tcp", "port": 80, "socketActivated": true}]}));
        let store = StoreDir::default();
        let r = from_spec(&s, &SpecContext { system: "x86_64-linux", store: &store, thin_mounts: &[] }).unwrap();
        assert_eq!(check_manifest(&r.manifest), Err(OciSpecError::SocketActivated { name: "http".into() }));
        let msg = check_spec(&spec(json!({"thin": true})), &oci()).unwrap_err().to_string();
        assert!(msg.starts_with("thin: true has no meaning in an OCI image"), "{msg}");
        assert!(msg.contains("remove `thin`"), "{msg}");
    }

    #[test]
    fn tags() {
        for ok in ["1.35.0", "latest", "_x", "2-static", &"a".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "1+2", "a/b", &"a".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
        assert_eq!(tag_suggestion(".x"), "_.x");
    }
}
