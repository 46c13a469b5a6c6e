//! Reading published artifacts back: an ACI's archive layout and image ID
//! ([`inspect`]), a published ACI with its signature, index, SBOM and
//! dependencies ([`verify`]), and OCI image layouts and docker-archives, every
//! digest recomputed and every layer read by the rules of [`layers`] ([`oci`]).

pub mod inspect;
pub mod layers;
pub mod oci;
pub mod tar;
pub mod verify;
