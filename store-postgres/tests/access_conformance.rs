//! The access tables' contract (`session::access::conformance`) on
//! PostgreSQL: every check, one test each, on a fresh database each, with
//! the tables opened by `PgAccessTables::open` as every node would.

mod common;

use common::*;
use session::access::AccessTables;
use session::access::conformance::{self, Edit, Place};
use store_postgres::PgAccessTables;

/// One fresh trace database (created by a trace writer, as a deployment
/// does) whose access tables the checks open, edit and tamper with.
struct PgPlace {
    db: TestDb,
}

impl PgPlace {
    fn new() -> PgPlace {
        let db = TestDb::new();
        drop(Keys::new().writer(&db.url));
        PgPlace { db }
    }
}

/// `edit` as SQL on `c`, with the rights `c` has; the rows it changed.
fn run(c: &postgres_raw::Client, edit: Edit<'_>) -> Result<u64, tokio_postgres::Error> {
    match edit {
        Edit::EntryActor { seq, actor } => c.execute(
            "UPDATE access_log SET actor = $2 WHERE seq = $1",
            &[&(seq as i64), &actor],
        ),
        Edit::DeleteEntry { seq } => {
            c.execute("DELETE FROM access_log WHERE seq = $1", &[&(seq as i64)])
        }
        Edit::AccountRole { login, role } => c.execute(
            "UPDATE accounts SET role = $2 WHERE login = $1",
            &[&login, &role],
        ),
        Edit::AccountEnabled { login } => c.execute(
            "UPDATE accounts SET disabled_at = NULL WHERE login = $1",
            &[&login],
        ),
    }
}

impl Place for PgPlace {
    fn open(&self) -> Box<dyn AccessTables> {
        Box::new(PgAccessTables::open(&self.db.url).expect("open the access tables"))
    }

    fn try_edit(&self, edit: Edit<'_>) -> Result<(), String> {
        run(&raw(&self.db.url), edit)
            .map(drop)
            .map_err(|e| store_postgres::describe(&e))
    }

    fn force(&self, edit: Edit<'_>) {
        // The owner grants itself back what the migration revoked and
        // disables the triggers, for this one edit.
        let c = access_forger(&self.db.url);
        let n =
            run(&c, edit).unwrap_or_else(|e| panic!("{edit:?}: {}", store_postgres::describe(&e)));
        assert_eq!(n, 1, "{edit:?} changed {n} rows");
        access_guards_back(&c);
    }

    fn access_leaves(&self) -> Vec<u64> {
        raw(&self.db.url)
            .query(
                "SELECT item FROM tlog_leaves WHERE kind = 1 ORDER BY idx",
                &[],
            )
            .iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect()
    }
}

fn check(check: conformance::Check) {
    check(&PgPlace::new());
}

#[test]
fn empty_tables_read_empty() {
    check(conformance::empty_tables_read_empty);
}

#[test]
fn logins_are_unique() {
    check(conformance::logins_are_unique);
}

#[test]
fn account_rows_read_back() {
    check(conformance::account_rows_read_back);
}

#[test]
fn roles_and_states_change_once() {
    check(conformance::roles_and_states_change_once);
}

#[test]
fn totp_steps_are_used_once() {
    check(conformance::totp_steps_are_used_once);
}

#[test]
fn the_log_is_one_ordered_chain() {
    check(conformance::the_log_is_one_ordered_chain);
}

#[test]
fn an_append_that_does_not_extend_the_head_writes_nothing() {
    check(conformance::an_append_that_does_not_extend_the_head_writes_nothing);
}

#[test]
fn lookups_pick_the_right_entries() {
    check(conformance::lookups_pick_the_right_entries);
}

#[test]
fn concurrent_writers_keep_one_chain() {
    check(conformance::concurrent_writers_keep_one_chain);
}

#[test]
fn entries_survive_reopening() {
    check(conformance::entries_survive_reopening);
}

#[test]
fn the_log_is_append_only() {
    check(conformance::the_log_is_append_only);
}

#[test]
fn tampering_is_detected() {
    check(conformance::tampering_is_detected);
}

#[test]
fn every_check_has_its_test_here() {
    let here = include_str!("access_conformance.rs");
    for (name, _) in conformance::CHECKS {
        assert!(
            here.contains(&format!("check(conformance::{name})")),
            "{name} is not run against PostgreSQL"
        );
    }
}
