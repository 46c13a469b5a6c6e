//! The result directory of a build (`$out`), which this module alone lays out:
//! the file names of every artifact ([`files`]), the index `nix2aci.json` that
//! lists the artifacts with their files and digests ([`index`]), the text of
//! `postprocess.sh` ([`script`]), the one shell-quoting rule ([`quote`]) and
//! the staged writer a build adds artifacts through ([`writer`]).
//! `docs/result-layout.md` describes the layout for users.

pub mod files;
pub mod index;
pub mod quote;
pub mod script;
pub mod writer;

pub use files::{signature_name, AciFiles, FileName, FileNameError, ImageBase};
pub use index::{
    Artifact, ArtifactKind, Digests, Index, IndexError, OciArtifact, OciDigests, OciFiles, OciIndexArtifact,
    OciIndexDigests, OciIndexFiles, OciIndexPlatform, ResultDir, INDEX_FILE, INDEX_VERSION,
};
pub use quote::{shell_quote, shell_quote_bytes, shell_quote_path};
pub use writer::{ResultWriter, WriteError, POSTPROCESS_SCRIPT};
