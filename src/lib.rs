//! mkaci: turns a Nix closure into an App Container Image.
//!
//! The modules follow the pipeline: [`closure`] -> [`manifest`] and [`plan`] ->
//! [`archive`] -> [`result`] -> [`postprocess`] / [`sign`] / [`verify`];
//! [`build`] runs the first four. [`oci`] writes the same plan as an OCI
//! image layout. `docs/architecture.md` draws it. The command
//! line lives in the binary (`src/main.rs`, `src/cli/`), not here.

pub mod archive;
pub mod attrs;
pub mod build;
pub mod closure;
pub mod contents;
pub mod image_id;
pub mod inspect;
pub mod layered;
pub mod manifest;
pub mod names;
pub mod nar;
pub mod oci;
pub mod plan;
pub mod postprocess;
pub mod result;
pub mod sbom;
pub mod sign;
pub mod spec;
pub mod store_path;
pub mod verify;
