//! sign (stub)
