//! What happens outside the sandbox: signing with the user's gpg ([`sign`]),
//! publishing a result's artifacts into DIR ([`postprocess`]; OCI layouts and
//! their docker-archives in [`oci`]), pushing OCI images to a registry or
//! podman's store ([`push`]), and the static appc discovery site
//! ([`site`]). A result is untrusted input: what is published is read
//! without following links out of it ([`source`]). Every file appears under
//! its final name whole ([`fsops`]).

mod fsops;
pub mod oci;
pub mod postprocess;
pub mod push;
pub mod sign;
pub mod site;
pub mod source;
