//! Fixtures shared by the integration tests. Each test file uses a subset.
#![allow(dead_code)]

pub mod store;
