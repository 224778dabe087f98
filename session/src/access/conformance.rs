//! The [`AccessTables`] contract as a test suite, for every
//! implementation: SQLite runs it in this crate's tests, a PostgreSQL
//! implementation in its own (feature `test-support`).
//!
//! An implementation provides a [`Place`]: one empty storage (a file, a
//! database or schema of its own) that can be opened several times, as a
//! restart or a second node would, and edited past the tables' API, as an
//! attacker would. [`run_all`] runs every check, each on a fresh place;
//! each check is also a public function, to run one per test.
//!
//! The checks drive the tables both directly and through an
//! [`AccessStore`] built with [`AccessStore::with_tables`], so they test
//! what the server relies on: unique logins, role and state changes, a
//! TOTP step used once, one ordered chain whoever writes, entries that
//! survive a reopening, rows the storage refuses to change, and tampering
//! that verification finds.

use std::sync::Arc;
use std::thread;

use crate::Error;
use crate::keys::{DataKey, HeadSigner, TrustedKeys};
use crate::pii::Pii;
use crate::timestamp::Timestamp;

use super::log::access_genesis;
use super::{
    AccessEntry, AccessStore, AccessTables, AccountRole, AccountSecrets, Append, EntryMatch,
    NewAccount, NewAccountRow, entry_hash,
};

/// A change made to the rows outside the tables' API.
#[derive(Clone, Copy, Debug)]
pub enum Edit<'a> {
    /// Sets the `actor` of access log entry `seq`.
    EntryActor { seq: u64, actor: &'a str },
    /// Deletes access log entry `seq`.
    DeleteEntry { seq: u64 },
    /// Sets the stored `role` text of account `login`.
    AccountRole { login: &'a str, role: &'a str },
    /// Marks account `login` enabled in its row.
    AccountEnabled { login: &'a str },
}

/// One storage under test, empty when made.
pub trait Place: Send + Sync {
    /// Opens the access tables of this place. The first opening of a
    /// fresh place creates them; every later one (while earlier handles
    /// are open or after they are dropped) sees what was written before,
    /// as a restarted server or another node would.
    fn open(&self) -> Box<dyn AccessTables>;

    /// Tries `edit` with the rights the server itself has on the storage
    /// (triggers, grants in force). `Err` says why the storage refused.
    fn try_edit(&self, edit: Edit<'_>) -> Result<(), String>;

    /// Applies `edit` past every guard, as someone with the database
    /// owner's rights (or write access to the file) would.
    fn force(&self, edit: Edit<'_>);

    /// The `item` (the entry's `seq`) of every access-entry leaf of the
    /// Merkle tree, in leaf order.
    fn access_leaves(&self) -> Vec<u64>;
}

/// One check of the contract, run on a fresh place.
pub type Check = fn(&dyn Place);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("empty_tables_read_empty", empty_tables_read_empty),
    ("logins_are_unique", logins_are_unique),
    ("account_rows_read_back", account_rows_read_back),
    ("roles_and_states_change_once", roles_and_states_change_once),
    ("totp_steps_are_used_once", totp_steps_are_used_once),
    ("the_log_is_one_ordered_chain", the_log_is_one_ordered_chain),
    (
        "an_append_that_does_not_extend_the_head_writes_nothing",
        an_append_that_does_not_extend_the_head_writes_nothing,
    ),
    (
        "lookups_pick_the_right_entries",
        lookups_pick_the_right_entries,
    ),
    (
        "concurrent_writers_keep_one_chain",
        concurrent_writers_keep_one_chain,
    ),
    ("entries_survive_reopening", entries_survive_reopening),
    ("the_log_is_append_only", the_log_is_append_only),
    ("tampering_is_detected", tampering_is_detected),
];

/// Runs every check, each on a place `fresh` makes.
pub fn run_all(fresh: &dyn Fn() -> Box<dyn Place>) {
    for (name, check) in CHECKS {
        eprintln!("access tables conformance: {name}");
        let place = fresh();
        check(place.as_ref());
    }
}

/// The keys every check signs and seals with.
struct Keys {
    signer: HeadSigner,
    data: DataKey,
    trusted: TrustedKeys,
}

fn keys() -> Keys {
    let signer = HeadSigner::from_seed([7; 32]);
    let trusted = TrustedKeys::new([signer.public()]);
    Keys {
        signer,
        data: DataKey::from_bytes([9; 32]),
        trusted,
    }
}

/// An access store over a new opening of `place`.
fn store(place: &dyn Place) -> AccessStore {
    let k = keys();
    AccessStore::with_tables(place.open(), k.signer, vec![k.data], k.trusted)
        .expect("an access store opens over the tables")
}

fn at(us: i64) -> Timestamp {
    Timestamp::from_micros(us)
}

fn new_account(login: &str, role: AccountRole) -> NewAccount {
    NewAccount {
        login: login.into(),
        role,
        password_hash: "$argon2id$fake".into(),
        secrets: AccountSecrets {
            name: Pii::new("Dr Nom Fictif".into()),
            rpps: Some(Pii::new("10101010105".parse().expect("an RPPS number"))),
            totp_secret: Pii::new(vec![1, 2, 3]),
        },
    }
}

fn row(login: &str) -> NewAccountRow {
    NewAccountRow {
        login: login.into(),
        role: AccountRole::Professional,
        created_at: at(5),
        password_hash: "$argon2id$row".into(),
        sealed: vec![0xA5; 40],
    }
}

/// An entry that extends a head `(seq, hash)` (or an empty log), signed.
fn entry_after(head: Option<(u64, [u8; 32])>, actor: &str, action: &str) -> AccessEntry {
    let k = keys();
    let (seq, prev_hash) = match head {
        Some((s, h)) => (s + 1, h),
        None => (1, access_genesis()),
    };
    let now = at(seq as i64 * 10);
    let hash = entry_hash(seq, now, actor, action, None, "ok", &prev_hash);
    AccessEntry {
        seq,
        at: now,
        actor: actor.into(),
        action: action.into(),
        act: None,
        outcome: "ok".into(),
        prev_hash,
        hash,
        key_id: k.signer.id(),
        signature: k.signer.sign(&hash),
    }
}

fn assert_whole(access: &AccessStore, entries: u64) {
    let report = access.verify(&keys().trusted).expect("verify");
    assert_eq!(report.entries, entries, "entries counted by verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

fn assert_chain(entries: &[AccessEntry]) {
    let mut prev = access_genesis();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "entries come back by ascending seq");
        assert_eq!(e.prev_hash, prev, "entry #{} follows the one before", e.seq);
        prev = e.hash;
    }
}

/// A new storage reads as an empty log with no account.
pub fn empty_tables_read_empty(place: &dyn Place) {
    let t = place.open();
    assert_eq!(t.head().expect("head"), None);
    assert!(t.entries().expect("entries").is_empty());
    assert_eq!(t.newest().expect("newest"), None);
    assert_eq!(t.entry(1).expect("entry"), None);
    assert_eq!(t.count_from(1).expect("count"), (0, None));
    assert!(t.accounts().expect("accounts").is_empty());
    assert_eq!(t.account("nobody").expect("account"), None);
    assert!(!t.is_enabled(1).expect("is_enabled"));
    assert!(place.access_leaves().is_empty());
}

/// A login is taken once: by the tables, also when two nodes insert it at
/// once, and through the store, which refuses it.
pub fn logins_are_unique(place: &dyn Place) {
    let t = place.open();
    let a = t
        .insert_account(&row("dr-a"))
        .expect("insert")
        .expect("a new login");
    assert_eq!(t.insert_account(&row("dr-a")).expect("insert"), None);
    let b = t
        .insert_account(&row("dr-b"))
        .expect("insert")
        .expect("a new login");
    assert_ne!(a, b);
    assert_eq!(t.accounts().expect("accounts").len(), 2);
    // Two handles (two nodes) racing for one login: one wins.
    let handles: Vec<Arc<dyn AccessTables>> = (0..2).map(|_| Arc::from(place.open())).collect();
    for round in 0..20 {
        let login = format!("dr-race-{round}");
        let won: Vec<bool> = thread::scope(|s| {
            let racers: Vec<_> = handles
                .iter()
                .map(|h| {
                    let login = login.clone();
                    s.spawn(move || h.insert_account(&row(&login)).expect("insert").is_some())
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{login}: {won:?}");
    }
    let access = store(place);
    access
        .add_account(new_account("dr-c", AccountRole::Professional), at(1))
        .expect("add");
    let e = access
        .add_account(new_account("dr-c", AccountRole::Administrator), at(2))
        .expect_err("a taken login is refused");
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    assert_eq!(
        access.account("dr-c").expect("account").expect("dr-c").role,
        AccountRole::Professional
    );
}

/// A row reads back as inserted; rows list by ascending id.
pub fn account_rows_read_back(place: &dyn Place) {
    let t = place.open();
    let id = t
        .insert_account(&row("dr-a"))
        .expect("insert")
        .expect("new");
    let mut admin = row("admin");
    admin.role = AccountRole::Administrator;
    admin.sealed = vec![0, 1, 2, 255];
    let admin_id = t.insert_account(&admin).expect("insert").expect("new");
    let a = t.account("dr-a").expect("account").expect("dr-a");
    assert_eq!(a.id, id);
    assert_eq!(a.login, "dr-a");
    assert_eq!(a.role, "professional");
    assert_eq!(a.created_at, at(5));
    assert_eq!(a.disabled_at, None);
    assert_eq!(a.password_hash, "$argon2id$row");
    assert_eq!(a.sealed, vec![0xA5; 40]);
    assert_eq!(a.totp_step, 0);
    let all = t.accounts().expect("accounts");
    assert_eq!(
        all.iter()
            .map(|r| (r.id, r.login.as_str()))
            .collect::<Vec<_>>(),
        [(id, "dr-a"), (admin_id, "admin")]
    );
    assert_eq!(all[1].role, "administrator");
    assert_eq!(all[1].sealed, [0, 1, 2, 255]);
    assert!(t.is_enabled(id).expect("is_enabled"));
    assert!(!t.is_enabled(admin_id + 1000).expect("is_enabled"));
}

/// Role, disable and enable change the row once each, are recorded in the
/// signed log, and are what the store then answers; a row the log does not
/// know yet (a store older than role entries) is signed once, at opening.
pub fn roles_and_states_change_once(place: &dyn Place) {
    let t = place.open();
    let id = t
        .insert_account(&row("dr-row"))
        .expect("insert")
        .expect("new");
    assert!(t.set_disabled("dr-row", Some(at(3))).expect("disable"));
    assert!(
        !t.set_disabled("dr-row", Some(at(4)))
            .expect("disable again")
    );
    let r = t.account("dr-row").expect("account").expect("row");
    assert_eq!(
        r.disabled_at,
        Some(at(3)),
        "a second disable changed nothing"
    );
    assert!(!t.is_enabled(id).expect("is_enabled"));
    assert!(t.set_disabled("dr-row", None).expect("enable"));
    assert!(!t.set_disabled("dr-row", None).expect("enable again"));
    assert!(t.is_enabled(id).expect("is_enabled"));
    assert!(
        !t.set_disabled("nobody", Some(at(3)))
            .expect("no such login")
    );
    t.set_role(id, AccountRole::Administrator)
        .expect("set_role");
    assert_eq!(
        t.account("dr-row").expect("account").expect("row").role,
        "administrator"
    );

    let access = store(place);
    let id = access
        .add_account(new_account("dr-a", AccountRole::Professional), at(10))
        .expect("add");
    assert!(
        access
            .set_role("dr-a", AccountRole::Administrator, at(11))
            .expect("set_role")
    );
    assert!(
        !access
            .set_role("nobody", AccountRole::Administrator, at(11))
            .expect("none")
    );
    assert_eq!(
        access.account("dr-a").expect("account").expect("dr-a").role,
        AccountRole::Administrator
    );
    assert!(access.disable("dr-a", at(12)).expect("disable"));
    assert!(!access.disable("dr-a", at(13)).expect("disable again"));
    assert!(!access.is_enabled(id).expect("is_enabled"));
    let a = access.account("dr-a").expect("account").expect("dr-a");
    assert_eq!(a.disabled_at, Some(at(12)));
    assert!(access.enable("dr-a", at(14)).expect("enable"));
    assert!(!access.enable("dr-a", at(15)).expect("enable again"));
    assert!(access.is_enabled(id).expect("is_enabled"));
    let logins = access.logins().expect("logins");
    assert!(logins.contains(&("dr-a".to_string(), AccountRole::Administrator, true)));
    let actions: Vec<String> = access
        .entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            // The upgrade at opening signs `dr-row` as the table has it.
            "account_role:administrator",
            "accounts_signed",
            "account_role:professional",
            "account_role:administrator",
            "account_state:disabled",
            "account_state:enabled"
        ]
    );
}

/// A TOTP step is accepted once, only if newer, by one of two racing
/// nodes.
pub fn totp_steps_are_used_once(place: &dyn Place) {
    let access = store(place);
    let id = access
        .add_account(new_account("dr-a", AccountRole::Professional), at(1))
        .expect("add");
    assert!(access.use_totp_step(id, 10).expect("step"));
    assert!(!access.use_totp_step(id, 10).expect("replay"));
    assert!(!access.use_totp_step(id, 9).expect("older"));
    assert!(access.use_totp_step(id, 11).expect("newer"));
    assert!(
        !access
            .use_totp_step(id + 1000, 12)
            .expect("no such account")
    );
    assert!(
        access.use_totp_step(id, u64::MAX).is_err(),
        "a step beyond i64 is refused"
    );
    assert_eq!(
        access
            .account("dr-a")
            .expect("account")
            .expect("dr-a")
            .totp_step,
        11
    );
    let handles: Vec<Arc<dyn AccessTables>> = (0..2).map(|_| Arc::from(place.open())).collect();
    for step in 100..120 {
        let won = thread::scope(|s| {
            let racers: Vec<_> = handles
                .iter()
                .map(|h| s.spawn(move || h.use_totp_step(id, step).expect("step")))
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .filter(|w| *w)
                .count()
        });
        assert_eq!(won, 1, "step {step} accepted {won} times");
    }
}

/// Records come back in order, each chained to the one before, signed,
/// with one Merkle leaf each in the same order; the head is the newest.
pub fn the_log_is_one_ordered_chain(place: &dyn Place) {
    let access = store(place);
    let act = crate::ids::ActId::random();
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(
            access
                .record("account:1", "read", Some(act), "allowed", at(i))
                .expect("record"),
        );
    }
    written.push(
        access
            .record("unknown", "login", None, "failed", at(9))
            .expect("record"),
    );
    let t = place.open();
    let entries = t.entries().expect("entries");
    assert_eq!(entries, written, "entries come back byte for byte");
    assert_chain(&entries);
    let newest = entries.last().expect("entries").clone();
    assert_eq!(t.head().expect("head"), Some((newest.seq, newest.hash)));
    assert_eq!(t.newest().expect("newest"), Some(newest));
    assert_eq!(t.entry(3).expect("entry"), Some(entries[2].clone()));
    assert_eq!(t.entry(7).expect("entry"), None);
    assert_eq!(t.count_from(1).expect("count"), (6, Some(6)));
    assert_eq!(t.count_from(4).expect("count"), (3, Some(6)));
    assert_eq!(t.count_from(7).expect("count"), (0, None));
    assert_eq!(place.access_leaves(), [1, 2, 3, 4, 5, 6]);
    assert_whole(&access, 6);
}

/// An append chained to anything but the head writes nothing and says
/// so; the right one is written.
pub fn an_append_that_does_not_extend_the_head_writes_nothing(place: &dyn Place) {
    let t = place.open();
    // An empty log takes #1 after the genesis hash only.
    let mut wrong = entry_after(None, "x", "a");
    wrong.prev_hash = [1; 32];
    assert_eq!(t.append(&wrong).expect("append"), Append::Stale);
    let mut wrong = entry_after(Some((1, access_genesis())), "x", "a");
    wrong.prev_hash = access_genesis();
    assert_eq!(t.append(&wrong).expect("append"), Append::Stale);
    let first = entry_after(None, "x", "a");
    assert_eq!(t.append(&first).expect("append"), Append::Written);
    // The same seq again, a seq too far, a wrong prev hash.
    assert_eq!(t.append(&first).expect("append"), Append::Stale);
    let far = entry_after(Some((5, first.hash)), "x", "b");
    assert_eq!(t.append(&far).expect("append"), Append::Stale);
    let forked = entry_after(Some((1, [2; 32])), "x", "b");
    assert_eq!(t.append(&forked).expect("append"), Append::Stale);
    let second = entry_after(Some((1, first.hash)), "x", "b");
    assert_eq!(t.append(&second).expect("append"), Append::Written);
    assert_eq!(t.entries().expect("entries"), [first, second]);
    assert_eq!(place.access_leaves(), [1, 2]);
}

/// The lookups the store proves accounts with pick exactly what they say.
pub fn lookups_pick_the_right_entries(place: &dyn Place) {
    let t = place.open();
    let mut head = None;
    let mut append = |actor: &str, action: &str| {
        let e = entry_after(head, actor, action);
        assert_eq!(t.append(&e).expect("append"), Append::Written);
        head = Some((e.seq, e.hash));
        e
    };
    let e1 = append("account:1", "read");
    let e2 = append("accounts", "accounts_signed");
    let e3 = append("cli:x", "account_role:professional");
    let e4 = append("cli:x", "Account_state:disabled");
    let e5 = append("cli:y", "a%_*?[x]");
    let e6 = append("cli:y", "account_state:enabled");
    let pick = |actors: &[&str], actions: &[&str], prefixes: &[&str]| {
        t.first_matching(&EntryMatch {
            actors,
            actions,
            action_prefixes: prefixes,
        })
        .expect("first_matching")
        .map(|e| e.seq)
    };
    assert_eq!(pick(&[], &[], &[]), None);
    assert_eq!(pick(&["accounts"], &[], &[]), Some(e2.seq));
    assert_eq!(pick(&[], &["accounts_signed"], &[]), Some(e2.seq));
    assert_eq!(
        pick(&[], &["accounts_sign"], &[]),
        None,
        "actions match whole"
    );
    assert_eq!(pick(&[], &[], &["account_role:"]), Some(e3.seq));
    assert_eq!(
        pick(&[], &[], &["account_state:"]),
        Some(e6.seq),
        "prefixes are case-sensitive"
    );
    assert_eq!(
        pick(&[], &[], &["a%"]),
        Some(e5.seq),
        "no wildcard in prefixes"
    );
    assert_eq!(pick(&[], &[], &["a_"]), None, "no wildcard in prefixes");
    assert_eq!(pick(&[], &[], &["a%_*?[x]"]), Some(e5.seq));
    assert_eq!(pick(&[], &[], &["a*"]), None, "no glob in prefixes");
    assert_eq!(
        pick(&["cli:y"], &["read"], &["account_role:"]),
        Some(e1.seq),
        "any field matching picks, the lowest seq first"
    );
    assert_eq!(
        t.entries_with_outcome("ok")
            .expect("outcome")
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [e1.seq, e2.seq, e3.seq, e4.seq, e5.seq, e6.seq]
    );
    assert!(t.entries_with_outcome("OK").expect("outcome").is_empty());
}

/// Two nodes, each with two threads, recording at once extend one chain:
/// every record is there once, numbered without a gap, each with its leaf.
pub fn concurrent_writers_keep_one_chain(place: &dyn Place) {
    const PER_THREAD: usize = 25;
    let nodes = [Arc::new(store(place)), Arc::new(store(place))];
    let written: Vec<AccessEntry> = thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let node = nodes[w % 2].clone();
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            node.record(
                                &format!("writer:{w}"),
                                "read",
                                None,
                                "allowed",
                                at(i as i64),
                            )
                            .expect("record")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().expect("writer"))
            .collect()
    });
    let entries = place.open().entries().expect("entries");
    assert_eq!(entries.len(), 4 * PER_THREAD);
    assert_chain(&entries);
    let mut seqs: Vec<u64> = written.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), written.len(), "two records got one seq");
    for e in &written {
        assert_eq!(
            &entries[e.seq as usize - 1],
            e,
            "a record was not kept as acknowledged"
        );
    }
    assert_eq!(
        place.access_leaves(),
        (1..=entries.len() as u64).collect::<Vec<_>>()
    );
    for node in &nodes {
        assert_whole(node, entries.len() as u64);
    }
}

/// What one opening wrote, a later one reads, verifies and extends.
pub fn entries_survive_reopening(place: &dyn Place) {
    let written = {
        let access = store(place);
        access
            .add_account(new_account("dr-a", AccountRole::Administrator), at(1))
            .expect("add");
        assert!(access.disable("dr-a", at(2)).expect("disable"));
        access
            .record("account:1", "login", None, "ok", at(3))
            .expect("record");
        access.entries().expect("entries")
    };
    let access = store(place);
    assert_eq!(access.entries().expect("entries"), written);
    let a = access.account("dr-a").expect("account").expect("dr-a");
    assert_eq!(a.role, AccountRole::Administrator);
    assert_eq!(a.disabled_at, Some(at(2)));
    // Secrets sealed above the seam open again.
    assert_eq!(a.secrets.name.expose(), "Dr Nom Fictif");
    assert_eq!(
        access
            .logins_with_rpps(&"10101010105".parse().expect("rpps"))
            .expect("logins"),
        ["dr-a"]
    );
    let next = access
        .record("account:1", "read", None, "ok", at(4))
        .expect("record");
    assert_eq!(next.seq, written.len() as u64 + 1);
    assert_eq!(next.prev_hash, written.last().expect("written").hash);
    assert_whole(&access, written.len() as u64 + 1);
}

/// The storage refuses to change or delete an entry, with the server's
/// own rights.
pub fn the_log_is_append_only(place: &dyn Place) {
    let access = store(place);
    for i in 0..3 {
        access
            .record("account:1", "read", None, "allowed", at(i))
            .expect("record");
    }
    let before = access.entries().expect("entries");
    assert!(
        place
            .try_edit(Edit::EntryActor {
                seq: 2,
                actor: "account:2"
            })
            .is_err(),
        "an entry was changed"
    );
    assert!(
        place.try_edit(Edit::DeleteEntry { seq: 2 }).is_err(),
        "an entry was deleted"
    );
    assert!(
        place.try_edit(Edit::DeleteEntry { seq: 3 }).is_err(),
        "the newest entry was deleted"
    );
    assert_eq!(access.entries().expect("entries"), before);
    assert_whole(&access, 3);
}

/// Past the guards, a changed or deleted entry and an edited account row
/// are found by verification, and the account is refused.
pub fn tampering_is_detected(place: &dyn Place) {
    let access = store(place);
    access
        .add_account(new_account("dr-a", AccountRole::Professional), at(1))
        .expect("add");
    access
        .add_account(new_account("dr-b", AccountRole::Professional), at(2))
        .expect("add");
    assert!(access.disable("dr-b", at(3)).expect("disable"));
    for i in 0..3 {
        access
            .record("account:1", "read", None, "allowed", at(10 + i))
            .expect("record");
    }
    assert_whole(&access, 7);
    let problems = |access: &AccessStore| access.verify(&keys().trusted).expect("verify").problems;
    let refused = |access: &AccessStore, login: &str| match access.account(login) {
        Err(Error::AccountNotProven(_)) => {}
        other => panic!("{login} should be refused as not proven, got {other:?}"),
    };

    // A role edited in its row.
    place.force(Edit::AccountRole {
        login: "dr-a",
        role: "administrator",
    });
    refused(&access, "dr-a");
    assert!(
        problems(&access)
            .iter()
            .any(|p| p.contains("says role administrator") && p.contains("proves professional")),
        "{:?}",
        problems(&access)
    );
    place.force(Edit::AccountRole {
        login: "dr-a",
        role: "professional",
    });
    assert!(access.account("dr-a").is_ok());
    // A disabled account enabled in its row.
    place.force(Edit::AccountEnabled { login: "dr-b" });
    refused(&access, "dr-b");
    assert!(
        problems(&access)
            .iter()
            .any(|p| p.contains("says enabled") && p.contains("proves disabled")),
        "{:?}",
        problems(&access)
    );
    // The newest entry deleted while the store runs: the account whose
    // disable it was is refused, though the chain left behind is whole.
    assert!(access.disable("dr-a", at(20)).expect("disable"));
    let newest = access
        .entries()
        .expect("entries")
        .last()
        .expect("newest")
        .seq;
    place.force(Edit::DeleteEntry { seq: newest });
    place.force(Edit::AccountEnabled { login: "dr-a" });
    refused(&access, "dr-a");
    // An entry changed.
    place.force(Edit::EntryActor {
        seq: 6,
        actor: "account:2",
    });
    assert!(
        problems(&access)
            .iter()
            .any(|p| p.contains("#6 was changed")),
        "{:?}",
        problems(&access)
    );
    // An entry deleted from the middle.
    place.force(Edit::DeleteEntry { seq: 5 });
    assert!(
        problems(&access).iter().any(|p| p.contains("is missing")),
        "{:?}",
        problems(&access)
    );
}
