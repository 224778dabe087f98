//! Finds import cycles between the modules of each crate of the workspace.
//!
//! A module `a` depends on a sibling `b` when code inside `a` (its
//! submodules included) names something inside `b` through a `crate::`,
//! `super::` or `self::` path, directly or through a `pub use` re-export.
//! Naming an ancestor (a child using its parent's types) is not a cycle:
//! the parent is the vocabulary its children share. Code under
//! `#[cfg(test)]` is left out (tests may reach anywhere), and so are
//! comments, doc links included.
//!
//! The scan is lexical (no macro expansion, no name resolution beyond
//! paths and `pub use`), which is enough here: within a crate, Rust only
//! reaches another module by naming it.
//!
//! The pipeline: [`lex`] turns a file into tokens, [`scan`] finds its
//! `mod` declarations, paths and re-exports, [`graph`] resolves the paths
//! into edges between sibling modules and finds the cycles, [`workspace`]
//! lists the crate targets to check.

mod error;
mod graph;
mod lex;
mod scan;
mod workspace;

pub use error::Error;
pub use graph::{CrateGraph, CrateRoot, Cycle, Edge};
pub use workspace::{workspace_graphs, workspace_roots};

/// A module's path inside its crate: empty for the crate root.
pub type ModPath = Vec<String>;
