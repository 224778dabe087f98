//! The rule of docs/ARCHITECTURE.md, checked on this workspace: no two
//! sibling modules of any crate import each other, directly or in a circle.
//! `scripts/module-cycles.sh` prints the same report with every place.

use std::path::Path;

#[test]
fn no_crate_of_the_workspace_has_a_module_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let graphs = module_graph::workspace_graphs(&workspace).expect("workspace read");
    // signaling, media, session, load-tests, module-graph: lib and bins.
    assert!(graphs.len() >= 7, "crate targets found: {}", graphs.len());
    assert!(
        graphs.iter().any(|g| g.modules.len() > 20),
        "modules were not read"
    );
    let report: String = graphs
        .iter()
        .flat_map(|g| g.cycles())
        .map(|c| c.to_string())
        .collect();
    assert!(report.is_empty(), "module cycles:\n{report}");
}
