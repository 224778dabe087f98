//! `GET /api/session` tells the signed-in person who they are: a
//! professional gets back their own name and RPPS as their account holds
//! them (the request form then does not ask for them), never cached; an
//! administrator without an RPPS gets none; without a session, 401.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use common::expertise::*;
use common::{DOCTOR_RPPS, EXPERT_RPPS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_names_the_professional_from_their_account() {
    let e = Expertise::start().await;
    for (cookie, login, rpps) in [
        (&e.requester, "requester", DOCTOR_RPPS),
        (&e.expert, "expert", EXPERT_RPPS),
    ] {
        let a = e.get("/api/session", cookie).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let who = a.json();
        assert_eq!(who["login"], login);
        assert_eq!(who["role"], "professional");
        assert_eq!(who["name"], format!("Dr {login}"), "the account's name");
        assert_eq!(who["rpps"], rpps);
    }

    // An administrator who does not practise: a name, no RPPS.
    let who = e.get("/api/session", &e.admin).await.json();
    assert_eq!(who["role"], "administrator");
    assert_eq!(who["name"], "Dr admin");
    assert!(who.get("rpps").is_none(), "{who}");

    // Without a session: nothing.
    let a = e
        .send(Method::GET, "/api/session", None, None, Body::empty())
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.json().get("name").is_none());
}
