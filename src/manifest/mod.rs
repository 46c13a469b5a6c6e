//! The appc 0.8.11 ImageManifest, typed, validated, with deterministic bytes.
//! See `../shared/appc.md` §3. (Owned by the manifest work; stub.)
