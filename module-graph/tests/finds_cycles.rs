//! The check finds the cycles a newcomer would trip on, and only those:
//! sibling modules naming each other, at any depth, directly or through a
//! re-export; a child naming its parent, or test code, is no cycle.

mod common;

use module_graph::{Cycle, workspace_graphs};

fn cycles(files: &[(&str, &str)]) -> Vec<Cycle> {
    let dir = common::workspace(files);
    workspace_graphs(dir.path())
        .expect("graph read")
        .iter()
        .flat_map(|g| g.cycles())
        .collect()
}

#[test]
fn siblings_naming_each_other_are_a_cycle_with_their_places() {
    let found = cycles(&[
        ("app/src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("app/src/a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "app/src/b.rs",
            "pub struct B;\nfn f() { let _ = super::a::A; }\n",
        ),
        ("app/src/c.rs", "use crate::a::A;\n"),
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
    let cycle = &found[0];
    assert_eq!(cycle.krate, "app (lib)");
    assert!(cycle.parent.is_empty());
    assert_eq!(cycle.members, ["a", "b"]);
    let places: Vec<String> = cycle
        .edges
        .iter()
        .map(|e| format!("{}->{}:{}", e.from, e.to, e.line))
        .collect();
    assert_eq!(places, ["a->b:1", "b->a:2"]);
}

#[test]
fn a_cycle_through_a_re_export_at_the_root_is_found() {
    let found = cycles(&[
        (
            "app/src/lib.rs",
            "mod error;\nmod act;\npub use error::Error;\n",
        ),
        (
            "app/src/error.rs",
            "pub enum Error { Act(crate::act::Phase) }\n",
        ),
        ("app/src/act.rs", "use crate::Error;\npub enum Phase {}\n"),
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].members, ["act", "error"]);
}

#[test]
fn cycles_between_nested_siblings_are_found_in_their_parent() {
    let found = cycles(&[
        ("app/src/main.rs", "mod room;\nfn main() {}\n"),
        (
            "app/src/room/mod.rs",
            "mod presence;\nmod gate;\npub struct Room;\n",
        ),
        (
            "app/src/room/presence.rs",
            "use super::gate::open;\npub fn join() {}\n",
        ),
        (
            "app/src/room/gate.rs",
            "pub fn open() { super::presence::join() }\n",
        ),
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].krate, "app (bin)");
    assert_eq!(found[0].parent, ["room"]);
    assert_eq!(found[0].members, ["gate", "presence"]);
}

#[test]
fn children_naming_their_parent_and_test_code_are_no_cycle() {
    let found = cycles(&[
        (
            "app/src/lib.rs",
            "mod vocabulary;\nmod room;\npub use vocabulary::Phase;\n",
        ),
        (
            "app/src/vocabulary.rs",
            "pub enum Phase {}\n#[cfg(test)]\nmod tests { use crate::room::Room; }\n",
        ),
        (
            "app/src/room/mod.rs",
            "mod presence;\nuse crate::Phase;\npub struct Room;\nfn f() { presence::join() }\n",
        ),
        (
            "app/src/room/presence.rs",
            "use super::Room;\npub fn join() {}\n// crate::vocabulary and \"crate::room\" in a string\n",
        ),
    ]);
    assert!(found.is_empty(), "{found:?}");
}
