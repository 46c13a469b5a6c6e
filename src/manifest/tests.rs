//! Table tests for the whole-manifest rules of [`ImageManifest::validate`].
