//! mkaci: turns a Nix closure into an App Container Image.
//!
//! The modules follow the pipeline: [`closure`] -> [`plan`] -> [`manifest`] ->
//! [`archive`] -> [`postprocess`] / [`sign`] / [`verify`].

pub mod archive;
pub mod attrs;
pub mod build;
pub mod closure;
pub mod image_id;
pub mod inspect;
pub mod manifest;
pub mod names;
pub mod plan;
pub mod postprocess;
pub mod sign;
pub mod store_path;
pub mod verify;
