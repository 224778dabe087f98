//! The crate targets of a Cargo workspace: each member's `src/lib.rs`,
//! `src/main.rs` and `src/bin/*.rs`.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::graph::{CrateGraph, CrateRoot};

/// The members listed in the workspace's `Cargo.toml`.
fn members(workspace: &Path) -> Result<Vec<String>, Error> {
    let path = workspace.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let list = manifest
        .find("members")
        .map(|start| &manifest[start..])
        .and_then(|rest| Some(&rest[rest.find('[')? + 1..rest.find(']')?]))
        .ok_or_else(|| Error::NoMembers(path.clone()))?;
    Ok(list
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect())
}

/// The crate targets of every member.
pub fn workspace_roots(workspace: &Path) -> Result<Vec<CrateRoot>, Error> {
    let mut roots = Vec::new();
    for member in members(workspace)? {
        let src = workspace.join(&member).join("src");
        for (file, kind) in [("lib.rs", "lib"), ("main.rs", "bin")] {
            let root = src.join(file);
            if root.exists() {
                roots.push(CrateRoot {
                    name: format!("{member} ({kind})"),
                    root,
                });
            }
        }
        let mut bins: Vec<PathBuf> = std::fs::read_dir(src.join("bin"))
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        bins.sort();
        for root in bins
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        {
            let stem = root
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            roots.push(CrateRoot {
                name: format!("{member} (bin {stem})"),
                root,
            });
        }
    }
    Ok(roots)
}

/// The module graph of every crate target of the workspace.
pub fn workspace_graphs(workspace: &Path) -> Result<Vec<CrateGraph>, Error> {
    workspace_roots(workspace)?
        .iter()
        .map(CrateGraph::read)
        .collect()
}
