//! `module-graph [WORKSPACE] [--edges]`: prints the module cycles of every
//! crate of the workspace (exit status 1 if there is one), and with
//! `--edges` every dependency between sibling modules.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_edges = args.iter().any(|a| a == "--edges");
    let workspace = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let graphs = match module_graph::workspace_graphs(&workspace) {
        Ok(graphs) => graphs,
        Err(e) => {
            eprintln!("module-graph: {e}");
            return ExitCode::from(2);
        }
    };
    let mut found = 0;
    for graph in &graphs {
        if show_edges {
            println!("{}", graph.krate);
            for edge in graph.edges() {
                println!("  {edge}");
            }
        }
        for cycle in graph.cycles() {
            found += 1;
            print!("{cycle}");
        }
    }
    if found > 0 {
        println!("{found} module cycle(s)");
        ExitCode::FAILURE
    } else {
        println!("no module cycle in {} crate target(s)", graphs.len());
        ExitCode::SUCCESS
    }
}
