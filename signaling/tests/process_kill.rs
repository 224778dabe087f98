//! The real `teleconsult serve`, killed with SIGKILL in the middle of a
//! consultation: the trace verifies, holds the consent and the admission
//! the participants were told of, and a restarted server on the same data
//! directory welcomes the same links again.

mod common;

use common::server::*;
use common::*;
use serde_json::{Value, json};

/// `act create --json` with the links pointing at `base`.
fn create_act(cli: &Cli) -> (String, String, String) {
    let out = cli.ok(&[
        "act",
        "create",
        "--kind",
        "teleconsultation",
        "--professional",
        DOCTOR,
        "--rpps",
        DOCTOR_RPPS,
        "--patient",
        PATIENT,
        "--json",
        "--public-url",
        "http://127.0.0.1:1",
    ]);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let link = |name: &str| token_of(v["links"][name].as_str().expect("a link"));
    (
        v["id"].as_str().expect("id").to_string(),
        link("professional"),
        link("patient"),
    )
}

/// The kinds of the act's events, per `trace show --json`.
fn kinds(cli: &Cli, act: &str) -> Vec<String> {
    let out = cli.ok(&["trace", "show", act, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).expect("JSON");
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_string())
        .collect()
}

fn assert_verifies(cli: &Cli) {
    let out = cli.run(&["trace", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "trace verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

async fn join(url: &str, token: &str) -> (Client, Welcome) {
    let mut c = Client::connect(url).await;
    c.hello(token).await;
    let w = c.welcome().await;
    (c, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_performance_leaves_a_verifiable_trace() {
    let cli = Cli::new();
    let (act, pro_token, patient_token) = create_act(&cli);
    let log = cli.dir.path().join("serve.log");

    let mut server = ServerProcess::start(&cli.data(), &log).await;
    let (mut pro, _) = join(&server.ws_url(), &pro_token).await;
    let (mut patient, w) = join(&server.ws_url(), &patient_token).await;
    assert_eq!(w.participant, 2);
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    // The server tells of media only after the events are durable.
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;

    server.kill();
    // The clients see the connection die, without a close frame.
    for c in [&mut pro, &mut patient] {
        loop {
            match c.next().await {
                Got::Msg(_) => continue,
                Got::Closed(code) => {
                    assert_eq!(code, None, "no close frame from a killed server");
                    break;
                }
            }
        }
    }

    assert_verifies(&cli);
    let k = kinds(&cli, &act);
    for expected in ["consent_given", "admitted"] {
        assert!(k.iter().any(|x| x == expected), "{expected} in {k:?}");
    }
    assert_eq!(k.last().map(String::as_str), Some("phase_entered"), "{k:?}");

    // Restarted on the same data directory, the same links work.
    let log2 = cli.dir.path().join("serve2.log");
    let mut again = ServerProcess::start(&cli.data(), &log2).await;
    let (mut patient, w) = join(&again.ws_url(), &patient_token).await;
    assert_eq!(w.participant, 2);
    let (mut pro, w) = join(&again.ws_url(), &pro_token).await;
    assert_eq!(w.participant, 1);
    // Consent and admission stand: media is allowed again at once.
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    pro.send(json!({"type": "leave"})).await;
    assert_eq!(pro.expect_close().await, close::LEFT);
    patient.sync().await;
    again.kill();

    assert_verifies(&cli);
    let k = kinds(&cli, &act);
    assert_eq!(k.last().map(String::as_str), Some("left"), "{k:?}");
    assert!(
        !server.log().contains("panicked") && !again.log().contains("panicked"),
        "{}\n{}",
        server.log(),
        again.log()
    );
}
