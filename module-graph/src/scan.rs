//! What one file says about modules: the child modules it declares, the
//! paths it names (`crate::`, `super::`, `self::`), and its `pub use`
//! re-exports. Items under `#[cfg(test)]` are skipped.

use std::path::{Path, PathBuf};

use crate::ModPath;
use crate::lex::{Token, lex};

/// A path named in a module, before resolution.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// The module whose code names the path (inline modules included).
    pub(crate) from: ModPath,
    /// The path as written: starts with `crate`, `super` or `self`.
    pub(crate) segments: Vec<String>,
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
}

/// A `pub use` (any visibility but private): `name` in `module` stands for
/// `segments`, written relative to `module`.
#[derive(Debug, Clone)]
pub(crate) struct ReExport {
    pub(crate) module: ModPath,
    pub(crate) name: String,
    pub(crate) segments: Vec<String>,
}

/// What the scan of one file found.
#[derive(Debug, Default)]
pub(crate) struct FileScan {
    /// `mod x;` declarations at file level: children held in other files.
    pub(crate) children: Vec<String>,
    /// Inline `mod x { .. }` modules, as full paths.
    pub(crate) inline_modules: Vec<ModPath>,
    pub(crate) references: Vec<Reference>,
    pub(crate) reexports: Vec<ReExport>,
}

/// The index of the token closing the bracket opened at `open` (or the end).
fn matching(toks: &[Token], open: usize, o: char, c: char) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is(o) {
            depth += 1;
        } else if t.is(c) {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    toks.len()
}

/// Whether the tokens inside `#[ ... ]` are a `cfg` that holds only under test.
fn is_cfg_test(attr: &[Token]) -> bool {
    let words: Vec<&str> = attr.iter().filter_map(Token::ident).collect();
    words.first() == Some(&"cfg") && words.contains(&"test") && !words.contains(&"not")
}

/// One leaf of a `use` tree: its full path, the name it binds, its line.
type UseLeaf = (Vec<String>, String, usize);

/// Expands the `use` tree starting at `i`; returns the index after it.
fn use_tree(toks: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<UseLeaf>) -> usize {
    let mut path: Vec<String> = prefix.to_vec();
    while let Some(t) = toks.get(i) {
        if let Some(word) = t.ident() {
            path.push(word.to_owned());
            i += 1;
            if toks.get(i).is_some_and(Token::is_path_sep) {
                i += 1;
                continue;
            }
            let mut name = word.to_owned();
            if toks.get(i).and_then(Token::ident) == Some("as") {
                if let Some(alias) = toks.get(i + 1).and_then(Token::ident) {
                    name = alias.to_owned();
                }
                i += 2;
            }
            if word == "self" {
                path.pop();
                if name == "self" {
                    name = path.last().cloned().unwrap_or_default();
                }
            }
            out.push((path, name, t.line));
            return i;
        } else if t.is('*') {
            out.push((path, "*".into(), t.line));
            return i + 1;
        } else if t.is('{') {
            i += 1;
            while i < toks.len() && !toks[i].is('}') {
                let before = i;
                i = use_tree(toks, i, &path, out);
                if toks.get(i).is_some_and(|t| t.is(',')) || i == before {
                    i += 1;
                }
            }
            return i + 1;
        } else if t.is_path_sep() {
            i += 1;
        } else {
            return i;
        }
    }
    i
}

/// Whether the `use` at `i` has a visibility (`pub`, `pub(crate)`, `pub(in ..)`).
fn is_public_use(toks: &[Token], i: usize) -> bool {
    let Some(prev) = i.checked_sub(1).and_then(|k| toks.get(k)) else {
        return false;
    };
    if prev.ident() == Some("pub") {
        return true;
    }
    if !prev.is(')') {
        return false;
    }
    let mut k = i - 1;
    while k > 0 && !toks[k].is('(') {
        k -= 1;
    }
    k.checked_sub(1)
        .and_then(|k| toks.get(k))
        .and_then(Token::ident)
        == Some("pub")
}

fn is_path_root(word: &str) -> bool {
    matches!(word, "crate" | "super" | "self")
}

/// Scans the source of the file holding `module`.
pub(crate) fn scan_file(src: &str, module: &ModPath, file: &Path) -> FileScan {
    let toks = lex(src);
    let mut scan = FileScan::default();
    // Inline modules we are inside: their name and the brace depth of their body.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut skip_next_item = false;
    let current = |inline: &[(String, usize)]| {
        let mut m = module.clone();
        m.extend(inline.iter().map(|(n, _)| n.clone()));
        m
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.is('#') {
            let inner = toks.get(i + 1).is_some_and(|t| t.is('!'));
            let open = if inner { i + 2 } else { i + 1 };
            if toks.get(open).is_some_and(|t| t.is('[')) {
                let close = matching(&toks, open, '[', ']');
                if !inner && is_cfg_test(&toks[open + 1..close.min(toks.len())]) {
                    skip_next_item = true;
                }
                i = close + 1;
                continue;
            }
        }
        if skip_next_item {
            // Skip one item: up to its `;` or its balanced `{ }` body.
            skip_next_item = false;
            let mut j = i;
            while j < toks.len() {
                if toks[j].is(';') {
                    break;
                } else if toks[j].is('{') {
                    j = matching(&toks, j, '{', '}');
                    break;
                } else if toks[j].is('(') {
                    j = matching(&toks, j, '(', ')');
                } else if toks[j].is('[') {
                    j = matching(&toks, j, '[', ']');
                }
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if t.is('{') {
            depth += 1;
            i += 1;
        } else if t.is('}') {
            depth = depth.saturating_sub(1);
            while inline.last().is_some_and(|(_, d)| *d > depth) {
                inline.pop();
            }
            i += 1;
        } else if t.ident() == Some("mod") {
            let name = toks.get(i + 1).and_then(Token::ident);
            match (name, toks.get(i + 2)) {
                (Some(name), Some(next)) if next.is(';') => {
                    if inline.is_empty() {
                        scan.children.push(name.to_owned());
                    }
                    i += 3;
                }
                (Some(name), Some(next)) if next.is('{') => {
                    depth += 1;
                    inline.push((name.to_owned(), depth));
                    scan.inline_modules.push(current(&inline));
                    i += 3;
                }
                _ => i += 1,
            }
        } else if t.ident() == Some("use") {
            let public = is_public_use(&toks, i);
            let mut leaves = Vec::new();
            let end = use_tree(&toks, i + 1, &[], &mut leaves);
            let from = current(&inline);
            for (segments, name, line) in leaves {
                // Other paths name a child module (`use child::X`) or
                // another crate; resolution tells which.
                if public && name != "*" {
                    scan.reexports.push(ReExport {
                        module: from.clone(),
                        name,
                        segments: segments.clone(),
                    });
                }
                scan.references.push(Reference {
                    from: from.clone(),
                    segments,
                    file: file.to_owned(),
                    line,
                });
            }
            i = end.max(i + 1);
        } else if t.ident().is_some_and(is_path_root)
            && toks.get(i + 1).is_some_and(Token::is_path_sep)
        {
            let mut segments = vec![t.ident().unwrap_or_default().to_owned()];
            let mut j = i + 1;
            while toks.get(j).is_some_and(Token::is_path_sep) {
                match toks.get(j + 1).and_then(Token::ident) {
                    Some(s) => {
                        segments.push(s.to_owned());
                        j += 2;
                    }
                    None => break,
                }
            }
            scan.references.push(Reference {
                from: current(&inline),
                segments,
                file: file.to_owned(),
                line: t.line,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> FileScan {
        scan_file(src, &vec!["m".to_owned()], Path::new("m.rs"))
    }

    fn paths(scan: &FileScan) -> Vec<String> {
        scan.references
            .iter()
            .map(|r| r.segments.join("::"))
            .collect()
    }

    #[test]
    fn use_trees_expand_to_full_paths() {
        let s = scan("use crate::{a::{B, c as d}, e::*, f::{self}};\nuse std::x;");
        assert_eq!(
            paths(&s),
            [
                "crate::a::B",
                "crate::a::c",
                "crate::e",
                "crate::f",
                "std::x"
            ]
        );
        assert!(s.reexports.is_empty());
    }

    #[test]
    fn public_uses_are_re_exports_under_the_name_they_bind() {
        let s = scan("pub use self::a::B;\npub(crate) use super::c::D as E;\nuse crate::f::G;");
        let names: Vec<&str> = s.reexports.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["B", "E"]);
    }

    #[test]
    fn paths_in_code_are_references() {
        let s = scan("fn f() { let x = crate::a::b::C::new(); super::d::e(); Self::g(); }");
        assert_eq!(paths(&s), ["crate::a::b::C::new", "super::d::e"]);
    }

    #[test]
    fn test_items_are_skipped_but_not_the_code_after_them() {
        let s = scan(
            "#[cfg(test)]\nmod tests { use crate::a; }\n#[cfg(test)] use crate::b;\n\
             #[cfg(not(test))] use crate::c;\nfn f() { crate::d::e() }",
        );
        assert_eq!(paths(&s), ["crate::c", "crate::d::e"]);
    }

    #[test]
    fn inline_modules_scope_their_references() {
        let s = scan("mod child;\nmod inner { fn f() { super::a(); } }\nfn g() { crate::b(); }");
        assert_eq!(s.children, ["child"]);
        let froms: Vec<String> = s.references.iter().map(|r| r.from.join("::")).collect();
        assert_eq!(froms, ["m::inner", "m"]);
    }
}
