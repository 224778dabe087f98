//! Every reader of an act refuses a chain whose store links were tampered
//! with in SQLite (a relinked `prev_id`, a moved head): `trace show`,
//! `trace export` (JSON and FHIR), `act list`, the trace, export and FHIR routes,
//! `invitations/check` and a join, each with the finding `trace verify`
//! prints; a cancelled act whose head is moved back does not reopen.

mod common;

use axum::http::StatusCode;
use common::security::Secured;
use common::*;
use session::Timestamp;
use session::act::{CancelReason, Command};
use session::store::load_act;
use signaling::protocol::ErrorCode;

/// `UPDATE`s an act's rows with the `sqlite3` shell, `{act}` standing for
/// the act's number.
fn tamper(db: &std::path::Path, act: &str, sql: &str) {
    let hex_id = act.replace('-', "");
    let no = format!("(SELECT no FROM acts WHERE act = x'{hex_id}')");
    sqlite3(
        db,
        &format!(
            "DROP TRIGGER IF EXISTS events_no_update; {}",
            sql.replace("{act}", &no)
        ),
    );
}

/// Relinks event #3 straight to event #1: event #2 drops out of the walk.
const RELINK: &str = "UPDATE events SET prev_id = (SELECT id FROM events WHERE act_no = {act} AND seq = 1) WHERE act_no = {act} AND seq = 3;";
/// Moves the head back to event #2.
const MOVE_HEAD: &str = "UPDATE heads SET seq = 2, last_id = (SELECT id FROM events WHERE act_no = {act} AND seq = 2) WHERE act_no = {act};";

#[test]
fn cli_readers_refuse_with_verify_s_finding() {
    for (sql, finding) in [
        (RELINK, "event #2: event #2 is missing (deleted)"),
        (
            MOVE_HEAD,
            "event #3: is missing, but checkpoint #1 signed it (deleted)",
        ),
    ] {
        let cli = Cli::new();
        let id = cli.create_teleconsultation();
        let other = cli.create_teleconsultation();
        tamper(&cli.db(), &id, sql);
        let expected = format!("act {id}, {finding}");

        let verify = cli.run(&["trace", "verify"]);
        assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
        assert!(stdout(&verify).contains(&expected), "{}", stdout(&verify));

        for args in [
            vec!["trace", "show", &id],
            vec!["trace", "export", &id, "--format", "json"],
            vec!["trace", "export", &id, "--format", "fhir"],
        ] {
            let out = cli.run(&args);
            assert!(!out.status.success(), "{args:?} read a broken chain");
            assert!(
                stderr(&out).contains(&format!("trace integrity: {expected}")),
                "{args:?}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).is_empty(), "{args:?} printed data");
        }
        // The other act still reads; the list names the refused one.
        cli.ok(&["trace", "show", &other]);
        let list = cli.run(&["act", "list"]);
        assert!(
            stdout(&list).contains("refused (trace integrity)"),
            "{}",
            stdout(&list)
        );
        assert!(stderr(&list).contains(&expected), "{}", stderr(&list));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_invitations_and_joins_refuse_a_tampered_chain() {
    let s = Secured::start().await;
    let (doctor, _, _) = s.standard_accounts();
    let doc = s.sign_in(&doctor).await;
    let db = s.server.data.db_path();

    // A relinked prev_id hides an event from the trace and the export.
    let relinked = s.server.create_act();
    let id = relinked.id();
    let trace = format!("/api/acts/{id}/trace");
    let export = format!("/api/acts/{id}/export");
    let fhir = format!("/api/acts/{id}/fhir");
    assert_eq!(s.get(&trace, Some(&doc), None).await.0, StatusCode::OK);
    tamper(&db, &id.to_string(), RELINK);
    for path in [&trace, &export, &fhir] {
        let (status, body) = s.get(path, Some(&doc), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("trace integrity"),
            "{body}"
        );
    }
    let (status, body) = s.server.check_invitation(&relinked.token("patient")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A cancelled act whose head is moved back does not reopen: its links
    // stay refused, at check and at join.
    let ended = s.server.create_act();
    let keys = s.server.state.data_keys();
    let (mut act, len) = load_act(&*s.server.state.store, ended.id(), &keys).unwrap();
    let events = act
        .handle(
            Command::Cancel(CancelReason::PatientAbsent),
            Timestamp::now(),
        )
        .unwrap();
    s.server
        .state
        .store
        .append(ended.id(), Some(len), events)
        .unwrap();
    let token = ended.token("patient");
    assert_eq!(s.server.check_invitation(&token).await.0, StatusCode::GONE);
    tamper(&db, &ended.id().to_string(), MOVE_HEAD);
    let (status, body) = s.server.check_invitation(&token).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut client = s.server.connect().await;
    client.hello(&token).await;
    let message = client.expect_error(ErrorCode::Unavailable).await;
    assert!(message.contains("trace integrity"), "{message}");
    // The tampered acts are reported by verify; an untouched one still opens.
    let report =
        session::store::verify_store(&*s.server.state.store, &s.server.trusted, None).unwrap();
    assert!(!report.is_intact());
    let fresh = s.server.create_act();
    let (status, body) = s.server.check_invitation(&fresh.token("patient")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
