//! inspect (stub)
