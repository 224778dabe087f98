//! The role sign-in uses is the one the signed access log proves: a role
//! edited with the `sqlite3` shell is refused at sign-in and reported by
//! `trace verify`; a role changed through `teleconsult professional role`
//! is recorded and used.

mod common;

use axum::http::StatusCode;
use common::security::*;
use common::{sqlite3, stdout, teleconsult};
use session::Timestamp;
use session::access::AccountRole;
use signaling::auth::totp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_edited_in_sqlite_is_refused_at_sign_in_and_reported() {
    let s = Secured::start().await;
    let (_doctor, outsider, _admin) = s.standard_accounts();
    let act = s.server.create_act();
    let data = s.server.data.root().to_path_buf();
    let verify = teleconsult(&data, &["trace", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    // A professional's row made administrator in SQLite.
    sqlite3(
        &s.server.data.db_path(),
        "UPDATE accounts SET role = 'administrator' WHERE login = 'outsider';",
    );
    let code = totp::code_at(&outsider.totp, Timestamp::now()).unwrap();
    let (status, body, cookie) = s.sign_in_with("outsider", PASSWORD, &code).await;
    // Refused like any failed sign-in (nothing more is told to the client),
    // and audited with the reason.
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(cookie.is_none());
    assert!(
        s.entries()
            .iter()
            .any(|e| e.action == "login" && e.outcome == "failed:account_not_proven"),
        "the refusal is audited with its reason"
    );
    let verify = teleconsult(&data, &["trace", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("the accounts table says role administrator, but the signed access log proves professional"),
        "{}",
        stdout(&verify)
    );

    // Put back, the account signs in as what the log proves.
    sqlite3(
        &s.server.data.db_path(),
        "UPDATE accounts SET role = 'professional' WHERE login = 'outsider';",
    );
    let cookie = s.sign_in(&outsider).await;
    let (status, _) = s
        .get(
            &format!("/api/acts/{}/trace", act.id()),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Changed through the command, it is recorded and used.
    let out = teleconsult(
        &data,
        &["professional", "role", "outsider", "administrator"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = s.access.entries().unwrap();
    assert!(log.iter().any(|e| e.action == "account_role:administrator"));
    let account = s.access.account("outsider").unwrap().unwrap();
    assert_eq!(account.role, AccountRole::Administrator);
    let verify = teleconsult(&data, &["trace", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}
