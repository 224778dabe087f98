//! PostgreSQL lost in the middle of a consultation on a node whose trace
//! lives there: the next append fails and nothing is acknowledged. The
//! professional's conclusion is not recorded; both participants are told
//! the server could not record it and are disconnected (to reconnect).
//! Once the database is back they rejoin, the act goes on from what the
//! trace holds, and the trace verifies with one conclusion.

mod common;

use common::postgres::{PgDb, server_url, sql};
use common::server::{TestServer, close};
use serde_json::json;
use signaling::protocol::ErrorCode;
use signaling::store::StoreSetting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_to_a_lost_database_fails_and_the_room_says_so() {
    let db = PgDb::new();
    let store = StoreSetting::parse(&db.url).expect("a PostgreSQL URL");
    let server = TestServer::start_with(|s| s.store = store).await;
    let (act, mut pro, mut patient) = server.in_performance().await;
    let before = server.kinds(act.id());

    // The database goes away: no new connection, the open ones ended.
    sql(
        &server_url(),
        &format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name),
    );
    sql(
        &server_url(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ),
    );

    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    for c in [&mut pro, &mut patient] {
        let message = c.expect_error(ErrorCode::Unavailable).await;
        assert!(message.contains("could not record"), "{message}");
        assert_eq!(c.expect_close().await, close::SERVER_SHUTDOWN);
    }

    // Back: the participants rejoin a room rebuilt from the trace, which
    // holds no conclusion.
    sql(
        &server_url(),
        &format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name),
    );
    let after_loss = server.kinds(act.id());
    assert!(!after_loss.contains(&"concluded"), "{after_loss:?}");
    assert_eq!(
        after_loss[..before.len()],
        before[..],
        "what was recorded before stays"
    );
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, _) = server.join(&act.token("patient")).await;
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    assert_eq!(patient.expect_close().await, close::ACT_ENDED);
    let kinds = server.kinds(act.id());
    assert_eq!(kinds.iter().filter(|k| **k == "concluded").count(), 1);
    server.assert_trace_intact();
}
