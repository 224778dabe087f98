//! `teleconsult act create --kind teleexpertise --question ...` and `act
//! attach`: the operator's way to request an expertise and attach a
//! document, with the route's checks (type by content, consent first);
//! `trace show` lists each attachment with its SHA-256, equal to the
//! file's. Attaching works with a server running on the data directory.

mod common;

use common::server::{Client, ServerProcess, token_of};
use common::*;
use serde_json::Value;
use session::Sha256;

/// A téléexpertise without the patient, with its question; `--attest-consent`
/// when `attest`. Returns what `act create --json` printed.
fn request(cli: &Cli, attest: bool) -> Value {
    let mut args = CREATE_TELEEXPERTISE.to_vec();
    args.extend([
        "--without-patient",
        "--question",
        "Avis sur un cliche fictif ?",
        "--urgency",
        "urgente",
        "--json",
        "--public-url",
        "http://127.0.0.1:1",
    ]);
    if attest {
        args.push("--attest-consent");
    }
    serde_json::from_str(cli.ok(&args).trim()).expect("one JSON object")
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n% compte rendu fictif pour la ligne de commande\n%%EOF\n".to_vec()
}

#[test]
fn a_request_with_its_question_and_attached_documents() {
    let cli = Cli::new();
    let act = request(&cli, true);
    let id = act["id"].as_str().expect("id").to_string();
    let shown: Value =
        serde_json::from_str(&cli.ok(&["trace", "show", &id, "--json"])).expect("JSON");
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert!(
        kinds.ends_with(&["expertise_requested", "consent_given"]),
        "{kinds:?}"
    );
    let request = &shown["events"][4]["event"];
    assert_eq!(request["urgency"], "urgent");
    assert_eq!(request["question"], "Avis sur un cliche fictif ?");

    // The PDF, attached by the requester (by default) and the expert.
    let file = cli.dir.path().join("compte-rendu.pdf");
    std::fs::write(&file, pdf()).expect("write");
    let out = cli.ok(&["act", "attach", &id, file.to_str().expect("utf-8")]);
    let sha = Sha256::digest(&pdf()).to_string();
    assert!(out.contains(&sha), "{out}");
    assert!(out.contains("application/pdf"), "{out}");
    assert!(out.contains(&format!("{} bytes", pdf().len())), "{out}");
    let image = cli.dir.path().join("radio.png");
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fictive".to_vec();
    std::fs::write(&image, &png).expect("write");
    let out = cli.ok(&[
        "act",
        "attach",
        &id,
        image.to_str().expect("utf-8"),
        "--by",
        EXPERT_RPPS,
        "--json",
    ]);
    let v: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["sha256"], Sha256::digest(&png).to_string().as_str());
    assert_eq!(v["media_type"], "image/png");
    assert_eq!(v["name"], "radio.png");

    // Refused: the same file again, a renamed executable, a professional
    // the act does not name.
    let exe = cli.dir.path().join("scanner.pdf");
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.resize(512, 0);
    std::fs::write(&exe, elf).expect("write");
    for (args, expected) in [
        (
            vec!["act", "attach", &id, file.to_str().expect("utf-8")],
            "already attached",
        ),
        (
            vec!["act", "attach", &id, exe.to_str().expect("utf-8")],
            "not a JPEG, PNG, WebP, PDF or DICOM file",
        ),
        (
            vec![
                "act",
                "attach",
                &id,
                image.to_str().expect("utf-8"),
                "--by",
                "10000000017",
            ],
            "names no such professional",
        ),
    ] {
        let out = cli.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // trace show lists each attachment with the file's SHA-256.
    let shown: Value =
        serde_json::from_str(&cli.ok(&["trace", "show", &id, "--json"])).expect("JSON");
    let attachments = shown["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["sha256"], sha.as_str());
    assert_eq!(attachments[0]["media_type"], "application/pdf");
    assert_eq!(attachments[0]["size"], pdf().len());
    assert_eq!(attachments[0]["name"], "compte-rendu.pdf");
    assert_eq!(attachments[1]["by"], 2, "the expert");
    assert_eq!(shown["shares"], Value::Array(Vec::new()));
    let text = cli.ok(&["trace", "show", &id]);
    assert!(text.contains("attachments:"), "{text}");
    assert!(text.contains(&format!("sha256={sha}")), "{text}");
    assert_eq!(cli.run(&["trace", "verify"]).status.code(), Some(0));
}

#[test]
fn a_request_needs_its_question_and_documents_wait_for_consent() {
    let cli = Cli::new();
    let out = cli.run(&CREATE_TELEEXPERTISE);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--question"), "{}", stderr(&out));
    let act = request(&cli, false);
    let id = act["id"].as_str().expect("id");
    let file = cli.dir.path().join("cr.pdf");
    std::fs::write(&file, pdf()).expect("write");
    let out = cli.run(&["act", "attach", id, file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("consent"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_while_the_server_runs_on_the_data_directory() {
    let cli = Cli::new();
    let act = request(&cli, true);
    let id = act["id"].as_str().expect("id").to_string();
    let log = cli.dir.path().join("server.log");
    let server = ServerProcess::start(&cli.data(), &log).await;
    let file = cli.dir.path().join("compte-rendu.pdf");
    std::fs::write(&file, pdf()).expect("write");
    let out = cli.ok(&["act", "attach", &id, file.to_str().expect("utf-8")]);
    assert!(out.contains(&Sha256::digest(&pdf()).to_string()), "{out}");
    // The server's room for the act, started after, holds the attachment
    // and appends after it.
    let token = token_of(act["links"]["expert"].as_str().expect("the expert's link"));
    let mut expert = Client::connect(&server.ws_url()).await;
    expert.hello(&token).await;
    expert.welcome().await;
    expert.sync().await;
    drop(server);
    let shown: Value =
        serde_json::from_str(&cli.ok(&["trace", "show", &id, "--json"])).expect("JSON");
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    let attached = kinds.iter().position(|k| *k == "attachment_added");
    let joined = kinds.iter().position(|k| *k == "joined");
    assert!(attached.is_some() && attached < joined, "{kinds:?}");
    assert_eq!(cli.run(&["trace", "verify"]).status.code(), Some(0));
}
