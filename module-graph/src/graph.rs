//! A crate's module tree, the dependencies between sibling modules that its
//! paths make, and the cycles among them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::ModPath;
use crate::error::Error;
use crate::scan::{FileScan, scan_file};

/// A crate target to check: its name and root file (`lib.rs`, `main.rs`).
#[derive(Debug, Clone)]
pub struct CrateRoot {
    pub name: String,
    pub root: PathBuf,
}

/// A dependency of one sibling module on another, with one place that makes it.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The module both siblings belong to.
    pub parent: ModPath,
    pub from: String,
    pub to: String,
    pub file: PathBuf,
    pub line: usize,
}

fn display_path(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = display_path(&self.parent);
        write!(
            f,
            "{parent}: {} -> {}   ({}:{})",
            self.from,
            self.to,
            self.file.display(),
            self.line
        )
    }
}

/// Sibling modules that depend on each other in a circle.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub krate: String,
    pub parent: ModPath,
    pub members: Vec<String>,
    /// The dependencies between members, one example place each.
    pub edges: Vec<Edge>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = display_path(&self.parent);
        writeln!(
            f,
            "{}: in {parent}: {{{}}}",
            self.krate,
            self.members.join(", ")
        )?;
        for e in &self.edges {
            writeln!(
                f,
                "    {} -> {}   ({}:{})",
                e.from,
                e.to,
                e.file.display(),
                e.line
            )?;
        }
        Ok(())
    }
}

/// The sibling dependencies of one crate target.
#[derive(Debug)]
pub struct CrateGraph {
    pub krate: String,
    /// Every module, inline ones included.
    pub modules: BTreeSet<ModPath>,
    /// By parent module, then by (from, to) sibling pair.
    siblings: BTreeMap<ModPath, BTreeMap<(String, String), Edge>>,
}

/// Name -> what it re-exports: the module the `pub use` sits in, and its path.
type ReExports = HashMap<(ModPath, String), Vec<String>>;

impl CrateGraph {
    /// Reads a crate target's module tree from its root file and builds its graph.
    pub fn read(krate: &CrateRoot) -> Result<Self, Error> {
        let mut modules = BTreeSet::new();
        let mut scans: Vec<FileScan> = Vec::new();
        let root_dir = krate.root.parent().map(Path::to_owned).unwrap_or_default();
        // (module, its file, the folder holding its children's files)
        let mut todo = vec![(ModPath::new(), krate.root.clone(), root_dir)];
        while let Some((module, file, dir)) = todo.pop() {
            let src = std::fs::read_to_string(&file).map_err(|source| Error::Read {
                path: file.clone(),
                source,
            })?;
            let scan = scan_file(&src, &module, &file);
            for child in &scan.children {
                let mut path = module.clone();
                path.push(child.clone());
                let flat = dir.join(format!("{child}.rs"));
                let nested = dir.join(child).join("mod.rs");
                let file = if flat.exists() { flat } else { nested };
                todo.push((path, file, dir.join(child)));
            }
            modules.insert(module);
            modules.extend(scan.inline_modules.iter().cloned());
            scans.push(scan);
        }
        let reexports: ReExports = scans
            .iter()
            .flat_map(|s| &s.reexports)
            .map(|r| ((r.module.clone(), r.name.clone()), r.segments.clone()))
            .collect();
        let mut siblings: BTreeMap<ModPath, BTreeMap<(String, String), Edge>> = BTreeMap::new();
        for r in scans.iter().flat_map(|s| &s.references) {
            let Some(target) = resolve(&modules, &reexports, &r.from, &r.segments, 0) else {
                continue;
            };
            let common = r
                .from
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == r.from.len() || common == target.len() {
                continue; // an ancestor or a descendant, not a sibling
            }
            let parent = r.from[..common].to_vec();
            let pair = (r.from[common].clone(), target[common].clone());
            siblings
                .entry(parent.clone())
                .or_default()
                .entry(pair.clone())
                .or_insert(Edge {
                    parent,
                    from: pair.0,
                    to: pair.1,
                    file: r.file.clone(),
                    line: r.line,
                });
        }
        Ok(Self {
            krate: krate.name.clone(),
            modules,
            siblings,
        })
    }

    /// Every sibling dependency, one example place each.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.siblings.values().flat_map(BTreeMap::values)
    }

    /// The sets of sibling modules that depend on each other in a circle.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut out = Vec::new();
        for (parent, edges) in &self.siblings {
            for members in strongly_connected(edges) {
                if members.len() < 2 {
                    continue;
                }
                let inside = |m: &String| members.contains(m);
                out.push(Cycle {
                    krate: self.krate.clone(),
                    parent: parent.clone(),
                    edges: edges
                        .values()
                        .filter(|e| inside(&e.from) && inside(&e.to))
                        .cloned()
                        .collect(),
                    members: members.into_iter().collect(),
                });
            }
        }
        out
    }
}

/// The module a path names: the deepest module along it, following
/// `pub use` re-exports. `None` for a path that leaves the crate root.
fn resolve(
    modules: &BTreeSet<ModPath>,
    reexports: &ReExports,
    from: &ModPath,
    segments: &[String],
    hops: usize,
) -> Option<ModPath> {
    if hops > 16 {
        return None; // a re-export loop: rustc refuses it anyway
    }
    let mut base = from.clone();
    let mut rest = segments;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        // A path relative to `from`: a child module, else another crate.
        Some(first) if modules.contains(&[from.as_slice(), &[first.to_owned()]].concat()) => {}
        _ => return None,
    }
    for (k, segment) in rest.iter().enumerate() {
        let mut next = base.clone();
        next.push(segment.clone());
        if modules.contains(&next) {
            base = next;
        } else if let Some(target) = reexports.get(&(base.clone(), segment.clone())) {
            let mut full = target.clone();
            full.extend(rest[k + 1..].iter().cloned());
            return resolve(modules, reexports, &base, &full, hops + 1).or(Some(base));
        } else {
            break;
        }
    }
    Some(base)
}

/// Tarjan's strongly connected components of a sibling graph.
fn strongly_connected(edges: &BTreeMap<(String, String), Edge>) -> Vec<BTreeSet<String>> {
    #[derive(Default)]
    struct Walk<'a> {
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(v: &'a str, edges: &'a BTreeMap<(String, String), Edge>, w: &mut Walk<'a>) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        for (_, to) in edges.keys().filter(|(from, _)| from == v) {
            let to = to.as_str();
            if !w.index.contains_key(to) {
                visit(to, edges, w);
                let low = w.low[v].min(w.low[to]);
                w.low.insert(v, low);
            } else if w.stack.contains(&to) {
                let low = w.low[v].min(w.index[to]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = BTreeSet::new();
            while let Some(m) = w.stack.pop() {
                component.insert(m.to_owned());
                if m == v {
                    break;
                }
            }
            w.out.push(component);
        }
    }
    let mut walk = Walk::default();
    let nodes: BTreeSet<&str> = edges
        .keys()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    for v in nodes {
        if !walk.index.contains_key(v) {
            visit(v, edges, &mut walk);
        }
    }
    walk.out
}
