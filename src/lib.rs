//! mkaci: turns a Nix closure into container images (appc ACIs and OCI
//! images) and publishes and checks them.
//!
//! The folders follow the pipeline, and each imports only what lies above it
//! in this list (`scripts/check-layers` enforces it):
//!
//! - [`nix`]: what Nix hands the builder (the structured attrs, the closure,
//!   store paths, NAR hashes, the names table);
//! - [`image`]: what goes into an image, in no format (the arguments as a
//!   manifest, the rootfs plan and its contents, the closure SBOM, image IDs);
//! - [`archive`]: bytes (tar framing, compression, digests);
//! - [`result`]: the result directory (file names, index, `postprocess.sh`);
//! - [`formats`]: the artifact kinds side by side, each from the same
//!   [`formats::Input`] into the [`result::ResultWriter`]; no format imports
//!   another;
//! - [`build`]: chooses the format the attrs ask for and runs it;
//! - [`publish`]: outside the sandbox (signing, publishing into DIR, the
//!   discovery site);
//! - [`check`]: reading published artifacts back (`inspect`, `verify`).
//!
//! `docs/architecture.md` draws it. The command line lives in the binary
//! (`src/main.rs`, `src/cli/`), not here.

pub mod archive;
pub mod build;
pub mod check;
pub mod formats;
pub mod image;
pub mod nix;
pub mod publish;
pub mod result;
