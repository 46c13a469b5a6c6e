//! build (stub)
