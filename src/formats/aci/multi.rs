//! One name, several platforms (`format = "multi-arch"`, what `mkMultiArch`
//! asks for): the ACI results of one image name and version built for
//! different platforms (`targetSystem`), gathered into one result. Each
//! image's files are linked to its own result (built once, as its own
//! derivation) and listed in this result's index, dependencies included, so
//! that postprocess publishes them all and a discovery site serves each
//! runtime the image of its own os and arch under the one name
//! (`docs/platforms.md`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::result::{ArtifactKind, IndexError, ResultDir, ResultWriter};

use crate::formats::{BuildError, Built, Input};

/// Why the images cannot go into one result.
#[derive(Debug, thiserror::Error)]
pub enum MultiArchError {
    #[error("images[{index}] = {value:?} is not an image result: {error}; pass images built with nix2aci.mkACI")]
    NotAResult { index: usize, value: String, error: Box<IndexError> },
    #[error("images[{index}] = {value:?} holds {what}; mkMultiArch gathers ACI results (OCI image indexes are not made yet)")]
    Shape { index: usize, value: String, what: String },
    #[error("images[{index}] is {name} {version}, images[0] is {first_name} {first_version}; one name and version serve every platform")]
    NameVersion { index: usize, name: String, version: String, first_name: String, first_version: String },
    #[error(
        "images[{first}] and images[{second}] are both for {platform}; give each platform one image (targetSystem)"
    )]
    SamePlatform { first: usize, second: usize, platform: String },
}

/// Gathers the results `input`'s packages are (the images) into `result`.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let err = |e: MultiArchError| BuildError::MultiArch(Box::new(e));
    let mut platforms: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut first: Option<(String, String)> = None;
    for (index, package) in input.packages.iter().enumerate() {
        let value = input.store.display(package);
        let r = ResultDir::read(Path::new(&value))
            .map_err(|error| err(MultiArchError::NotAResult { index, value: value.clone(), error: Box::new(error) }))?;
        let shape = |what: String| err(MultiArchError::Shape { index, value: value.clone(), what });
        if !r.index.oci_layouts.is_empty() {
            return Err(shape(format!("{} OCI image layout(s)", r.index.oci_layouts.len())));
        }
        let apps: Vec<_> = r.index.artifacts.iter().filter(|a| a.kind == ArtifactKind::Aci).collect();
        let [app] = apps.as_slice() else {
            return Err(shape(format!("{} application images", apps.len())));
        };
        let name_version = (app.name.to_string(), app.version.clone().unwrap_or_else(|| "(no version)".into()));
        match &first {
            None => first = Some(name_version.clone()),
            Some(f) if *f != name_version => {
                return Err(err(MultiArchError::NameVersion {
                    index,
                    name: name_version.0,
                    version: name_version.1,
                    first_name: f.0.clone(),
                    first_version: f.1.clone(),
                }))
            }
            Some(_) => {}
        }
        if let Some(&earlier) = platforms.get(&(app.os.clone(), app.arch.clone())) {
            return Err(err(MultiArchError::SamePlatform {
                first: earlier,
                second: index,
                platform: format!("{}/{}", app.os, app.arch),
            }));
        }
        platforms.insert((app.os.clone(), app.arch.clone()), index);
        for artifact in &r.index.artifacts {
            for f in artifact.files.all() {
                // To the file itself: a layered image's declared layer files
                // are links to the layer's result already.
                let target = std::fs::canonicalize(r.dir.join(f))
                    .map_err(|e| shape(format!("{f}, which cannot be resolved: {e}")))?;
                result.link(f, &target)?;
            }
            result.add(artifact.clone());
        }
    }
    Ok(Built::default())
}
