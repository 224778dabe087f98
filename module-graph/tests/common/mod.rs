//! A throwaway workspace on disk, written file by file.

use std::path::Path;

/// Writes `files` (path, content) under a new temporary folder holding a
/// workspace whose only member is `app`.
pub fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    write(
        dir.path(),
        "Cargo.toml",
        "[workspace]\nmembers = [\"app\"]\n",
    );
    for (path, content) in files {
        write(dir.path(), path, content);
    }
    dir
}

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("folders");
    std::fs::write(path, content).expect("file written");
}
