//! The access matrix, role by action, through `app(state)` without a
//! socket: who may list acts, read and export a trace, and create an act,
//! with the status code each refusal gets.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::security::*;
use common::{DOCTOR, DOCTOR_RPPS, EXPERT, EXPERT_RPPS, PATIENT};
use serde_json::json;

/// Who, cookie, authorization, expected status to list, to read/export.
type Row<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    StatusCode,
    StatusCode,
);
/// Who, cookie, authorization, RPPS in the act, expected status to create.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    StatusCode,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_what_it_may_and_the_right_refusal() {
    let s = Secured::start().await;
    let (doctor, outsider, admin) = s.standard_accounts();
    let act = s.server.create_act();
    let id = act.id();
    let doctor = s.sign_in(&doctor).await;
    let outsider = s.sign_in(&outsider).await;
    let admin = s.sign_in(&admin).await;
    let operator = format!("Bearer {}", s.server.state.api_token);
    let patient = format!("Bearer {}", act.token("patient"));

    let trace = format!("/api/acts/{id}/trace");
    let export = format!("/api/acts/{id}/export");
    // (who, cookie, authorization, list, trace, export)
    let ok = StatusCode::OK;
    let unauth = StatusCode::UNAUTHORIZED;
    let forbidden = StatusCode::FORBIDDEN;
    let rows: Vec<Row> = vec![
        ("nobody", None, None, unauth, unauth),
        ("patient link", None, Some(&patient), unauth, unauth),
        ("operator token", None, Some(&operator), forbidden, unauth),
        (
            "forged cookie",
            Some("__Host-teleconsult=forged"),
            None,
            unauth,
            unauth,
        ),
        ("doctor", Some(&doctor), None, ok, ok),
        ("outsider", Some(&outsider), None, ok, forbidden),
        ("administrator", Some(&admin), None, ok, ok),
    ];
    for (who, cookie, auth, list, read) in rows {
        let (status, body) = s.get("/api/acts", cookie, auth).await;
        assert_eq!(status, list, "{who} lists acts: {body}");
        for path in [&trace, &export] {
            let (status, body) = s.get(path, cookie, auth).await;
            assert_eq!(status, read, "{who} GET {path}: {body}");
        }
    }

    // What each sees in the list.
    let listed = |body: serde_json::Value| -> Vec<String> {
        body["acts"]
            .as_array()
            .expect("acts")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(
        listed(s.get("/api/acts", Some(&doctor), None).await.1),
        vec![id.to_string()]
    );
    assert!(listed(s.get("/api/acts", Some(&outsider), None).await.1).is_empty());
    assert_eq!(
        listed(s.get("/api/acts", Some(&admin), None).await.1),
        vec![id.to_string()]
    );

    // The trace and export carry the act, opened.
    let (_, body) = s.get(&trace, Some(&doctor), None).await;
    assert_eq!(body["act"], id.to_string());
    assert_eq!(body["events"][0]["kind"], "requested", "{body}");
    let (_, body) = s.get(&export, Some(&admin), None).await;
    assert_eq!(body["format"], "teleconsult-act-export/1");
    assert_eq!(body["verification"]["problems"], json!([]));

    // Bad ids and unknown acts.
    let (status, _) = s
        .get("/api/acts/not-an-id/trace", Some(&doctor), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown = session::ActId::random();
    let (status, _) = s
        .get(&format!("/api/acts/{unknown}/trace"), Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Creating acts: operator token and administrator yes; a professional
    // only an act naming them; nobody and a patient link never.
    let body = |rpps: &str| {
        json!({
            "kind": "teleconsultation",
            "professional": {"name": DOCTOR, "rpps": rpps},
            "patient": PATIENT,
        })
        .to_string()
    };
    let create = |cookie: Option<&str>, auth: Option<&str>, body: String| {
        let mut req = Request::post("/api/acts").header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.body(Body::from(body)).expect("request")
    };
    let cases: Vec<Case> = vec![
        ("nobody", None, None, DOCTOR_RPPS, unauth),
        ("patient link", None, Some(&patient), DOCTOR_RPPS, unauth),
        (
            "operator token",
            None,
            Some(&operator),
            DOCTOR_RPPS,
            StatusCode::CREATED,
        ),
        (
            "doctor, own act",
            Some(&doctor),
            None,
            DOCTOR_RPPS,
            StatusCode::CREATED,
        ),
        (
            "doctor, someone else's",
            Some(&doctor),
            None,
            EXPERT_RPPS,
            forbidden,
        ),
        (
            "administrator",
            Some(&admin),
            None,
            EXPERT_RPPS,
            StatusCode::CREATED,
        ),
    ];
    for (who, cookie, auth, rpps, expected) in cases {
        let (status, b) = s.server.rest(create(cookie, auth, body(rpps))).await;
        assert_eq!(status, expected, "{who} creates an act: {b}");
    }
    // A téléexpertise naming the outsider as expert is not theirs to
    // create: they would act in the requester's name (issue 12, point 3).
    let te = json!({
        "kind": "teleexpertise",
        "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS},
        "expert": {"name": EXPERT, "rpps": EXPERT_RPPS},
        "patient": PATIENT,
        "patient_present": false,
    });
    let (status, b) = s
        .server
        .rest(create(Some(&outsider), None, te.to_string()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_link_never_reads_the_trace() {
    let s = Secured::start().await;
    let act = s.server.create_act();
    let id = act.id();
    let token = act.token("patient");
    // The link works for what it is for: the live session check.
    let (status, _) = s.server.check_invitation(&token).await;
    assert_eq!(status, StatusCode::OK);
    // Every way a client could present it to the trace routes is refused.
    for path in [
        format!("/api/acts/{id}/trace"),
        format!("/api/acts/{id}/export"),
        format!("/api/acts/{id}/trace?token={token}"),
        "/api/acts".to_string(),
    ] {
        for (cookie, auth) in [
            (None, Some(format!("Bearer {token}"))),
            (Some(format!("__Host-teleconsult={token}")), None),
            (Some(format!("token={token}")), None),
        ] {
            let (status, body) = s.get(&path, cookie.as_deref(), auth.as_deref()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
            assert!(body.get("events").is_none() && body.get("acts").is_none());
        }
    }
    assert!(
        s.entries().is_empty(),
        "no read happened, so none is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_runs_under_the_strict_policy() {
    use tower::ServiceExt;
    let s = Secured::start().await;
    let res = s
        .server
        .app()
        .oneshot(Request::get("/pro").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(h.contains_key(header::STRICT_TRANSPORT_SECURITY));
    let html = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    let html = String::from_utf8_lossy(&html);
    // Scripts only from files, no inline handlers.
    for part in html.split("<script").skip(1) {
        assert!(
            part.trim_start().starts_with("type=\"module\" src="),
            "{part}"
        );
    }
    assert!(!html.contains(" onclick=") && !html.contains(" onsubmit="));
    // Reads of the trace are never cached.
    let (doctor, _, _) = s.standard_accounts();
    let cookie = s.sign_in(&doctor).await;
    let res = s
        .server
        .app()
        .oneshot(
            Request::get("/api/acts")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
}

/// The OIDC seam: an identity proven elsewhere (as a Pro Santé Connect
/// callback would) opens a session the same way and meets the same policy,
/// with no change to the routes or the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_from_another_provider_meets_the_same_policy() {
    use session::Pii;
    use session::access::AccountRole;
    use signaling::auth::Authenticated;
    let s = Secured::start().await;
    let doctor = s.add("psc-doctor", AccountRole::Professional, Some(DOCTOR_RPPS));
    let act = s.server.create_act();
    let sec = s.server.state.security().expect("security on");
    let account = s
        .access
        .account(&doctor.login)
        .expect("read")
        .expect("account");
    let who = Authenticated {
        account: account.id,
        login: doctor.login.clone(),
        role: AccountRole::Professional,
        name: None,
        rpps: Some(Pii::new(DOCTOR_RPPS.parse().expect("rpps"))),
        provider: "pro-sante-connect",
    };
    let token = sec
        .sessions
        .open(who, session::Timestamp::now())
        .expect("session");
    let cookie = format!("__Host-teleconsult={token}");
    let (status, body) = s.get("/api/session", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["provider"], "pro-sante-connect");
    // A provider that gave no name: the page asks for it.
    assert!(body.get("name").is_none(), "{body}");
    assert_eq!(body["rpps"], DOCTOR_RPPS);
    let (status, _) = s
        .get(
            &format!("/api/acts/{}/trace", act.id()),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let last = s.entries().pop().expect("audited");
    assert_eq!(last.actor, format!("account:{}", account.id));
    assert_eq!(last.action, "read_trace");
}
