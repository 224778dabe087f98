//! One node on PostgreSQL: the server assembled as `teleconsult serve
//! --store postgres://...` is (`server::build` with the `store` setting,
//! sign-in on) holds a téléconsultation over the WebSocket protocol
//! (created, consent given, patient admitted, concluded) in a fresh
//! database; then `trace verify --store postgres://...` passes and `trace
//! show` shows the act, and a professional account added by the command
//! line on that database signs in to the running server.

mod common;

use axum::http::StatusCode;
use common::postgres::PgDb;
use common::security::Secured;
use common::server::TIMEOUT;
use common::*;
use serde_json::{Value, json};
use session::Timestamp;
use signaling::auth::totp;
use signaling::protocol::ServerMessage;
use signaling::store::StoreSetting;

/// RFC 4648 base32 (no padding), as `professional add` prints the secret.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base32: {s}")) as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_holds_an_act_and_signs_in_cli_accounts() {
    let db = PgDb::new();
    let store = StoreSetting::parse(&db.url).expect("a PostgreSQL URL");
    let s = Secured::start_with(|settings| settings.store = store).await;
    let server = &s.server;
    let location = server.state.store.location();
    assert!(location.ends_with(&format!("/{}", db.name)), "{location}");

    let (act, mut pro, mut patient) = server.in_performance().await;
    pro.send(json!({
        "type": "conclude",
        "report": "Examen sans particularite; controle dans un mois.",
        "prescriptions": [],
    }))
    .await;
    for c in [&mut pro, &mut patient] {
        c.expect("ended", |m| {
            matches!(m, ServerMessage::Ended { .. }).then_some(())
        })
        .await;
        c.wait_ended().await;
    }
    let kinds = server.kinds(act.id());
    for k in ["consent_given", "admitted", "concluded"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    server.assert_trace_intact();
    let rows = db.sql("SELECT count(*) FROM events");
    assert_eq!(
        rows,
        [kinds.len().to_string()],
        "the events are in PostgreSQL"
    );

    // The command line on the same database and data directory.
    let data = server.data.root().to_path_buf();
    let url = db.url.clone();
    let id = act.id().to_string();
    let (verified, shown, added) = tokio::task::spawn_blocking(move || {
        let verified = teleconsult(&data, &["--store", &url, "trace", "verify"]);
        let shown = teleconsult(&data, &["--store", &url, "trace", "show", &id]);
        let added = teleconsult(
            &data,
            &[
                "--store",
                &url,
                "professional",
                "add",
                "--login",
                "doctor",
                "--name",
                DOCTOR,
                "--rpps",
                DOCTOR_RPPS,
                "--json",
            ],
        );
        (verified, shown, added)
    })
    .await
    .expect("the commands ran");
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("intact"),
        "{}",
        stdout(&verified)
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("concluded"), "{}", stdout(&shown));
    assert!(added.status.success(), "{}", stderr(&added));
    let added: Value = serde_json::from_str(stdout(&added).trim()).expect("JSON");
    let password = added["password"].as_str().expect("a generated password");
    let secret = base32_decode(added["totp_secret"].as_str().expect("secret"));

    // That account signs in to the running server.
    let code = totp::code_at(&secret, Timestamp::now()).expect("code");
    let (status, body, cookie) =
        tokio::time::timeout(TIMEOUT, s.sign_in_with("doctor", password, &code))
            .await
            .expect("in time");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookie.is_some(), "a session cookie");
    let logged = db.sql("SELECT count(*) FROM access_log WHERE action = 'account_added'");
    assert_eq!(logged, ["1"]);
}
