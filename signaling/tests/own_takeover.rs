//! Two `teleconsult serve` processes sharing a trace on PostgreSQL and a
//! Redis, as `--store postgres://… --redis redis://… --node-id NAME` runs
//! them. The professional joins through node A, which claims the act; the
//! patient joins through node B, which forwards it to A. A is killed with
//! SIGKILL during the performance: B tells the patient to retry, and both
//! come back through B with the same links (as a load balancer in front
//! would send them) within 15 s. B claims the act once A's lease has
//! expired, rebuilds the room from PostgreSQL, records the outage as an
//! incident for each participant, and the call goes on. The trace
//! verifies and holds every event acknowledged before the kill; nothing
//! is written twice.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{eventually, get, node_name, test_redis, wait_warm};
use common::postgres::PgDb;
use common::server::{Client, Got, ServerProcess, close, offer_and_answer, token_of};
use common::*;
use serde_json::{Value, json};
use signaling::protocol::{ErrorCode, ServerMessage, SignalData};

/// How long both participants may take to be back on the surviving node.
const BACK_WITHIN: Duration = Duration::from_secs(15);

/// Joins through `ws_url` with `token`, as the web client does: a refusal
/// for ownership (the act still leased to the dead node) or a broken
/// connection is retried every 250 ms until `deadline`.
async fn rejoin(ws_url: &str, token: &str, deadline: Instant) -> (Client, u32) {
    loop {
        assert!(
            Instant::now() < deadline,
            "not welcomed back within {BACK_WITHIN:?}"
        );
        let mut c = Client::connect(ws_url).await;
        c.hello(token).await;
        loop {
            match c.next().await {
                Got::Msg(ServerMessage::Welcome { participant, .. }) => return (c, participant),
                Got::Msg(ServerMessage::Error {
                    code: ErrorCode::ActElsewhere | ErrorCode::OwnershipUnavailable,
                    ..
                }) => continue,
                Got::Msg(ServerMessage::Error { code, message }) => {
                    panic!("refused: {code:?}: {message}")
                }
                Got::Msg(_) => continue,
                Got::Closed(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `trace show ACT --json` on the shared store: the act's events.
fn events(cli: &Cli, store: &str, act: &str) -> Vec<Value> {
    let out = cli.ok(&["--store", store, "trace", "show", act, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    v["events"].as_array().expect("events").clone()
}

fn kind(e: &Value) -> &str {
    e["kind"].as_str().expect("kind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_goes_on_after_its_owner_node_is_killed() {
    let db = PgDb::new();
    let redis = test_redis();
    let cli = Cli::new();
    let store = db.url.as_str();
    // The act, created on the shared store by the command line.
    let created = cli.create_teleconsultation_with(
        PATIENT,
        &["--store", store, "--public-url", "http://127.0.0.1:1"],
    );
    let act = created["id"].as_str().expect("id").to_owned();
    let link = |name: &str| token_of(created["links"][name].as_str().expect("a link"));
    let (pro_token, patient_token) = (link("professional"), link("patient"));

    let (name_a, name_b) = (node_name("a"), node_name("b"));
    let node = |name: &str| {
        vec![
            "--store".to_owned(),
            store.to_owned(),
            "--redis".to_owned(),
            redis.clone(),
            "--node-id".to_owned(),
            name.to_owned(),
        ]
    };
    let args_a = node(&name_a);
    let args_b = node(&name_b);
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let logs = tempfile::tempdir().expect("tempdir");
    let mut a =
        ServerProcess::start_with(&cli.data(), &logs.path().join("a.log"), &refs(&args_a)).await;
    let b =
        ServerProcess::start_with(&cli.data(), &logs.path().join("b.log"), &refs(&args_b)).await;
    wait_warm(&redis).await;

    // The professional through A (A claims the act), the patient through
    // B (forwarded to A); consent, admission, the call's signaling.
    let mut pro = Client::connect(&a.ws_url()).await;
    pro.hello(&pro_token).await;
    pro.welcome().await;
    let key = format!("teleconsult:act:{act}:lease");
    eventually("A to hold the act's lease", || async {
        get(&redis, &key)
            .await
            .filter(|v| v.ends_with(&format!(":{name_a}")))
    })
    .await;
    let mut patient = Client::connect(&b.ws_url()).await;
    patient.hello(&patient_token).await;
    let welcome = patient.welcome().await;
    patient.consent(&welcome).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    pro.signal(2, &SignalData::Offer { sdp: "v=0".into() })
        .await;
    assert_eq!(patient.expect_signal().await.0, 1);
    // What both were told is durable: consent, admission, performance.
    let before = events(&cli, store, &act);
    let before_kinds: Vec<&str> = before.iter().map(kind).collect();
    for k in ["consent_given", "admitted", "joined"] {
        assert!(before_kinds.contains(&k), "{k} in {before_kinds:?}");
    }

    // A dies.
    a.kill();
    let killed = Instant::now();
    let deadline = killed + BACK_WITHIN;
    // B tells the patient to retry; the professional's connection just ends.
    assert_eq!(patient.expect_close().await, close::OWNERSHIP_UNAVAILABLE);
    while let Got::Msg(_) = pro.next().await {}

    // Both come back through B, with the same links.
    let (mut pro, p) = rejoin(&b.ws_url(), &pro_token, deadline).await;
    assert_eq!(p, 1);
    let (mut patient, p) = rejoin(&b.ws_url(), &patient_token, deadline).await;
    assert_eq!(p, 2);
    let back_after = killed.elapsed();
    assert!(back_after < BACK_WITHIN, "back after {back_after:?}");
    let value = get(&redis, &key).await.expect("the act is leased");
    assert!(
        value.ends_with(&format!(":{name_b}")),
        "B holds it: {value}"
    );

    // The call goes on: media allowed again, signaling flows.
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    offer_and_answer(&mut pro, &mut patient).await;
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    assert_eq!(patient.expect_close().await, close::ACT_ENDED);

    // The trace: verifies, keeps every event from before the kill as it
    // was, holds the outage, and was written once.
    let verify = cli.run(&["--store", store, "trace", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    let after = events(&cli, store, &act);
    assert_eq!(
        after[..before.len()],
        before[..],
        "what was acknowledged before the kill is there, unchanged"
    );
    let outages: Vec<&Value> = after[before.len()..]
        .iter()
        .filter(|e| kind(e) == "incident_opened")
        .filter(|e| e.to_string().contains("server_outage"))
        .collect();
    assert_eq!(outages.len(), 2, "one outage incident per participant");
    let seqs: Vec<u64> = after
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "one chain, no event written twice: {seqs:?}"
    );
    drop(b);
}
