//! What the layered kinds share: the per-path dependency images (their
//! prefix, name, manifest and order), the pin a manifest lists for a
//! dependency, and reading a layer built by another derivation (a declared
//! `mkLayer` layer, or a cached per-path layer). The kinds that use it are
//! [`super::layered`] (the app), [`super::path_layer`] (one cached per-path
//! dependency image) and [`super::plan`] (the list of the cached ones).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::image::image_id::ImageId;
use crate::image::manifest::{AcIdentifier, AcVersion, Dependency, ImageManifest, ImageManifestKind, Label};
use crate::image::plan::store::group_by_popularity;
use crate::nix::closure::Closure;
use crate::nix::store_path::{StoreDir, StorePath, StorePathError};
use crate::result::{Artifact, ArtifactKind, IndexError, ResultDir};

/// Why the layers of an image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LayeredError {
    #[error("layerPrefix = {value:?} is not a valid AC Identifier ({reason}); use lowercase a-z, 0-9 separated by single - . _ ~ /, e.g. layerPrefix = \"example.com/nix/store\"")]
    BadPrefix { value: String, reason: Box<crate::image::manifest::ident::AcIdentifierError> },
    #[error("{field}[{index}] = {value:?} is not a store path: {error}; pass the result of nix2aci.mkLayer")]
    LayerPath { field: &'static str, index: usize, value: String, error: Box<StorePathError> },
    #[error("{field}[{index}] = {value:?} is not a layer: {error}")]
    NotALayer { field: &'static str, index: usize, value: String, error: Box<IndexError> },
    #[error("{field}[{index}] = {value:?} is not a layer: it holds {what}; pass the result of nix2aci.mkLayer, which holds exactly one dependency ACI")]
    LayerShape { field: &'static str, index: usize, value: String, what: String },
    #[error("{field}[{index}] ({name}) is built for {layer}, this image for {image} (os/arch); build the layer with the same system (or os and arch)")]
    Platform { field: &'static str, index: usize, name: String, layer: String, image: String },
    #[error("{field}[{index}] ({name}) lists the store path {value:?}, which is not a store path of {store}: {error}; rebuild the layer")]
    LayerStorePath {
        field: &'static str,
        index: usize,
        name: String,
        value: String,
        store: String,
        error: Box<StorePathError>,
    },
    #[error("{field}[{index}] ({name}) has no size in its index; rebuild the layer with this mkaci")]
    LayerSize { field: &'static str, index: usize, name: String },
    #[error("{field}[{first}] and {field}[{second}] are the same image {name}; list each layer once")]
    DuplicateLayer { field: &'static str, first: usize, second: usize, name: String },
    #[error("cachedLayers[{index}] ({name}) holds {count} store paths; a cached per-path layer holds exactly one: build it with cacheLayers = true")]
    CachedShape { index: usize, name: String, count: usize },
    #[error("cachedLayers[{index}] is the image {name}, but this image names the dependency image of {path} {expected} (with its os and arch labels); the cached layer was built for another layerPrefix, os or arch: build the image with cacheLayers = true, which makes the matching layer")]
    CachedName { index: usize, name: String, path: String, expected: String },
    #[error("cachedLayers[{index}] ({name}) holds {path}, which gets no per-path dependency image of its own here (it is not in the closure, or a declared layer holds it, or another cached layer is listed for it); build the image with cacheLayers = true, which lists exactly the layers it uses")]
    CachedUnused { index: usize, name: String, path: String },
    #[error("cachedLayers is given but layered is not true; cached per-path layers are the dependency images layered = true makes: set layered = true")]
    CachedWithoutLayered,
}

/// The default `layerPrefix`: the image name's first component and the store
/// directory, `localhost/nix/store` for `localhost/app` and a store at
/// `/nix/store`. Under the first component, so that whoever may publish the
/// image name's host may publish its dependencies too (`rkt trust
/// --prefix=localhost` covers both).
pub fn default_prefix(image: &AcIdentifier, store: &StoreDir) -> AcIdentifier {
    let first = image.as_str().split('/').next().unwrap_or(image.as_str());
    AcIdentifier::map_from(&format!("{first}/{}", store.relative()))
        .expect("a component and a store directory map to a name")
}

/// The prefix an image's per-path dependencies are named under: `layerPrefix`
/// when given, else [`default_prefix`].
pub fn prefix(given: Option<&str>, image: &AcIdentifier, store: &StoreDir) -> Result<AcIdentifier, LayeredError> {
    match given {
        None => Ok(default_prefix(image, store)),
        Some(v) => {
            v.parse().map_err(|reason| LayeredError::BadPrefix { value: v.to_string(), reason: Box::new(reason) })
        }
    }
}

/// The name of the dependency image of `path`: `<prefix>/<hash>-<name>`,
/// the name part mapped like a default image name (lowercase, `+` spelled
/// `plus`, other characters outside an AC Identifier's turned into `-`).
/// The hash alone tells store paths apart, so the mapping need not be
/// one-to-one.
pub fn dependency_name(prefix: &AcIdentifier, path: &StorePath) -> AcIdentifier {
    AcIdentifier::map_from(&format!("{prefix}/{}", path.base_name()))
        .expect("a valid prefix and a store hash always map to a name")
}

/// The manifest of a per-path dependency image: its name and the `os` and
/// `arch` labels rkt adds when it looks a dependency up; no version (appc
/// discovery then asks for `latest`), no app, no annotations.
pub fn dependency_manifest(name: AcIdentifier, os: &str, arch: &str) -> ImageManifest {
    let label =
        |n: &str, v: &str| Label { name: n.parse().expect("os and arch are AC Identifiers"), value: v.to_string() };
    ImageManifest {
        ac_kind: ImageManifestKind,
        ac_version: AcVersion::current(),
        name,
        labels: vec![label("os", os), label("arch", arch)],
        app: None,
        dependencies: Vec::new(),
        path_whitelist: Vec::new(),
        annotations: Vec::new(),
    }
}

/// The manifest entry that pins a dependency image.
pub fn pin(m: &ImageManifest, image_id: &ImageId, size: u64) -> Dependency {
    Dependency { image_name: m.name.clone(), image_id: Some(*image_id), labels: m.labels.clone(), size: Some(size) }
}

/// The closure paths that get their own dependency image, most popular
/// first (a path before the paths that reference it), ties in store order:
/// the order of the OCI store layers, one path each.
pub fn per_path_order(closure: &Closure, leave_out: &BTreeSet<StorePath>) -> Vec<StorePath> {
    group_by_popularity(closure, u32::MAX)
        .into_iter()
        .flat_map(|l| l.paths)
        .filter(|p| !leave_out.contains(p))
        .collect()
}

/// A declared layer, as an image that uses it sees it: the `mkLayer` output
/// and its one dependency ACI.
#[derive(Debug, Clone)]
pub struct DeclaredLayer {
    /// The layer's output directory (a store path).
    pub out: PathBuf,
    pub artifact: Artifact,
    pub manifest: ImageManifest,
    /// The store paths its image holds.
    pub store_paths: BTreeSet<StorePath>,
    /// Bytes of its `.aci`.
    pub size: u64,
}

/// Reads the declared layers `values` (the `layers` argument, as store
/// paths; `field` names it in errors: `layers`, or `cachedLayers` for the
/// cached per-path layers) for an image built for `os`/`arch`.
pub fn read_declared(
    field: &'static str,
    values: &[String],
    store: &StoreDir,
    os: &str,
    arch: &str,
) -> Result<Vec<DeclaredLayer>, LayeredError> {
    let mut layers: Vec<DeclaredLayer> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        store.parse_path(value).map_err(|error| LayeredError::LayerPath {
            field,
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let r = ResultDir::read(Path::new(value)).map_err(|error| LayeredError::NotALayer {
            field,
            index,
            value: value.clone(),
            error: Box::new(error),
        })?;
        let shape = |what: String| LayeredError::LayerShape { field, index, value: value.clone(), what };
        if !r.index.oci_layouts.is_empty() {
            return Err(shape(format!("{} OCI image layout(s)", r.index.oci_layouts.len())));
        }
        let [artifact] = r.index.artifacts.as_slice() else {
            return Err(shape(format!("{} ACIs", r.index.artifacts.len())));
        };
        if artifact.kind != ArtifactKind::DependencyAci {
            return Err(shape(format!("an image of kind {}", artifact.kind.as_str())));
        }
        let name = artifact.name.to_string();
        if artifact.os != os || artifact.arch != arch {
            return Err(LayeredError::Platform {
                field,
                index,
                name,
                layer: format!("{}/{}", artifact.os, artifact.arch),
                image: format!("{os}/{arch}"),
            });
        }
        let store_paths = artifact
            .store_paths
            .iter()
            .map(|p| {
                store.parse_path(p).map_err(|error| LayeredError::LayerStorePath {
                    field,
                    index,
                    name: name.clone(),
                    value: p.clone(),
                    store: store.as_str().into(),
                    error: Box::new(error),
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let size = artifact.size.ok_or_else(|| LayeredError::LayerSize { field, index, name: name.clone() })?;
        let manifest_path = r.dir.join(&artifact.files.manifest);
        let manifest = std::fs::read(&manifest_path)
            .ok()
            .and_then(|b| ImageManifest::from_json_slice(&b).ok())
            .ok_or_else(|| shape(format!("an unreadable manifest {}", manifest_path.display())))?;
        if let Some(first) = layers.iter().position(|l| l.artifact.digests.image_id == artifact.digests.image_id) {
            return Err(LayeredError::DuplicateLayer { field, first, second: index, name });
        }
        layers.push(DeclaredLayer { out: r.dir.clone(), artifact: artifact.clone(), manifest, store_paths, size });
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let store = StoreDir::default();
        let img: AcIdentifier = "localhost/tools/app".parse().unwrap();
        assert_eq!(default_prefix(&img, &store).as_str(), "localhost/nix/store");
        let plain: AcIdentifier = "busybox".parse().unwrap();
        assert_eq!(default_prefix(&plain, &store).as_str(), "busybox/nix/store");
        let odd = StoreDir::new("/gnu/Store_X").unwrap();
        assert_eq!(default_prefix(&img, &odd).as_str(), "localhost/gnu/store_x");
        let p = StorePath::from_base_name(&format!("{}-gtk+3-X11_Lib-1.0", "a".repeat(32))).unwrap();
        let prefix = default_prefix(&img, &store);
        assert_eq!(
            dependency_name(&prefix, &p).as_str(),
            format!("localhost/nix/store/{}-gtkplus3-x11_lib-1.0", "a".repeat(32))
        );
        assert!(matches!(prefix_of("Bad Prefix"), Err(LayeredError::BadPrefix { .. })));
        assert_eq!(prefix_of("example.com/deps").unwrap().as_str(), "example.com/deps");
    }

    fn prefix_of(v: &str) -> Result<AcIdentifier, LayeredError> {
        prefix(Some(v), &"x".parse().unwrap(), &StoreDir::default())
    }
}
