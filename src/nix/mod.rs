//! What Nix hands the builder: the structured attrs ([`attrs`]), the closure
//! `exportReferencesGraph` reported ([`closure`]), store paths parsed once
//! ([`store_path`]), NAR hashes ([`nar`]) and the table of systems and names
//! that Nix and Rust share ([`names`], `src/names.json`).

pub mod attrs;
pub mod closure;
pub mod names;
pub mod nar;
pub mod store_path;
