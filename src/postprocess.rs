//! postprocess (stub)
