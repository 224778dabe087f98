//! Sign-in cannot be used to lock a doctor out: failures count per login
//! and client address, so guesses from one address do not stop the right
//! password and code from another; and the check and the count are one
//! step, so guesses sent in parallel cannot exceed the limit.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use axum::http::StatusCode;
use common::security::*;
use session::Timestamp;
use session::access::AccountRole;
use signaling::auth::sessions::MAX_FAILURES;
use signaling::auth::totp;

const GUESSER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 66));
const DOCTORS_DESK: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_failures_from_one_address_do_not_stop_the_doctor_at_another() {
    let s = Secured::start().await;
    let doctor = s.add(
        "doctor",
        AccountRole::Professional,
        Some(common::DOCTOR_RPPS),
    );
    for i in 0..6 {
        let status = s
            .sign_in_from(GUESSER, "doctor", "guess-guess-guess", "111111")
            .await;
        let expected = if i < MAX_FAILURES {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "guess {i}");
    }
    let code = totp::code_at(&doctor.totp, Timestamp::now()).expect("code");
    assert_eq!(
        s.sign_in_from(GUESSER, "doctor", PASSWORD, &code).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser's address stays held, right credentials or not"
    );
    assert_eq!(
        s.sign_in_from(DOCTORS_DESK, "doctor", PASSWORD, &code)
            .await,
        StatusCode::OK,
        "the doctor signs in from their own address"
    );
    let failed = s
        .entries()
        .iter()
        .filter(|e| e.action == "login" && e.outcome.starts_with("failed:"))
        .count();
    assert_eq!(failed, MAX_FAILURES as usize, "every failure is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_exceed_the_limit() {
    let s = std::sync::Arc::new(Secured::start().await);
    s.add(
        "doctor",
        AccountRole::Professional,
        Some(common::DOCTOR_RPPS),
    );
    // Sixteen guesses at once, from one address (under its per-minute rate).
    let guesses: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.sign_in_from(GUESSER, "doctor", "guess-guess-guess", "111111")
                    .await
            })
        })
        .collect();
    let mut checked = 0;
    let mut held = 0;
    for g in guesses {
        match g.await.expect("the guess ran") {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => held += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!(
        checked, MAX_FAILURES,
        "only {MAX_FAILURES} guesses are checked, the rest held ({held})"
    );
    let failed = s
        .entries()
        .iter()
        .filter(|e| e.action == "login" && e.outcome.starts_with("failed:"))
        .count();
    assert_eq!(failed, MAX_FAILURES as usize);
}
