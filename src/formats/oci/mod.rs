//! OCI images from the same plan as an ACI: building one ([`image`]), the
//! typed OCI structures (image config, manifest, index, descriptors;
//! [`types`]), the mapping from the mkACI arguments to the image config
//! ([`config`]), one layer per store path with popularity grouping
//! ([`layers`]), the image layout directory ([`layout`]), and the
//! docker-archive tarball that publishing makes from it ([`docker`]).
//! `mkaci verify` reads both back (`crate::check::oci`).
//!
//! The specifications:
//! - image layout: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>
//! - image index: <https://github.com/opencontainers/image-spec/blob/main/image-index.md>
//! - image manifest: <https://github.com/opencontainers/image-spec/blob/main/manifest.md>
//! - image config: <https://github.com/opencontainers/image-spec/blob/main/config.md>
//! - layers: <https://github.com/opencontainers/image-spec/blob/main/layer.md>
//!
//! `docs/oci.md` describes the mapping and the layering for users.

pub mod config;
pub mod declared;
pub mod docker;
pub mod image;
pub mod layer;
pub mod layers;
pub mod layout;
pub mod types;

pub use config::{ConfigInput, OciSpecError};
pub use image::build;
pub use layout::{read_layout, write_layout, LayoutError, LayoutSummary, ReadLayout};
pub use types::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};

/// `maxLayers` when the user gives none: overlay filesystems limit the
/// depth of the layer stack, and 100 stays well inside every engine's limit.
pub const DEFAULT_MAX_LAYERS: u32 = 100;
