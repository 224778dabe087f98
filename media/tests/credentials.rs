//! TURN REST API credentials: issue, verify, expiry, revocation, forgery.

mod common;

use std::time::Duration;

use media::{Error, TurnCredentials, TurnUsername};

const NOW: u64 = 1_800_000_000;

#[test]
fn issued_credentials_verify_and_name_the_act_and_participant() {
    let creds = common::credentials();
    let c = creds.issue_until("act-42", "patient", NOW + 3600).unwrap();
    assert_eq!(c.username, format!("{}:act-42:patient", NOW + 3600));
    assert_eq!(c.expires_at, NOW + 3600);
    assert_eq!(c.password.len(), 28, "base64 of a 20-byte HMAC-SHA1");
    let user = creds.verify_at(&c.username, &c.password, NOW).unwrap();
    assert_eq!(
        user,
        TurnUsername {
            expires_at: NOW + 3600,
            act: "act-42".to_owned(),
            participant: "patient".to_owned(),
        }
    );
}

#[test]
fn issue_with_ttl_counts_from_now() {
    let creds = common::credentials();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = creds
        .issue("act-1", "doctor", Duration::from_secs(7200))
        .unwrap();
    assert!((before + 7200..=before + 7201).contains(&c.expires_at));
    creds.verify(&c.username, &c.password).unwrap();
}

#[test]
fn credentials_expire_after_their_expiry_second() {
    let creds = common::credentials();
    let c = creds.issue_until("act-1", "patient", NOW).unwrap();
    creds.verify_at(&c.username, &c.password, NOW).unwrap();
    assert!(matches!(
        creds.verify_at(&c.username, &c.password, NOW + 1),
        Err(Error::CredentialExpired { expired_at: NOW })
    ));
    assert!(matches!(
        creds.check_username_at(&c.username, NOW + 1),
        Err(Error::CredentialExpired { .. })
    ));
}

#[test]
fn revocation_refuses_every_credential_of_that_participant_only() {
    let creds = common::credentials();
    let patient = creds.issue_until("act-1", "patient", NOW + 60).unwrap();
    let later = creds.issue_until("act-1", "patient", NOW + 600).unwrap();
    let doctor = creds.issue_until("act-1", "doctor", NOW + 60).unwrap();
    let other_act = creds.issue_until("act-2", "patient", NOW + 60).unwrap();

    assert!(creds.revoke("act-1", "patient"));
    assert!(
        !creds.revoke("act-1", "patient"),
        "second revoke is not new"
    );
    assert!(creds.is_revoked("act-1", "patient"));
    for c in [&patient, &later] {
        assert!(matches!(
            creds.verify_at(&c.username, &c.password, NOW),
            Err(Error::CredentialRevoked { ref act, ref participant })
                if act == "act-1" && participant == "patient"
        ));
    }
    creds
        .verify_at(&doctor.username, &doctor.password, NOW)
        .unwrap();
    creds
        .verify_at(&other_act.username, &other_act.password, NOW)
        .unwrap();
    // Issuing again does not get around it.
    let fresh = creds.issue_until("act-1", "patient", NOW + 60).unwrap();
    assert!(
        creds
            .verify_at(&fresh.username, &fresh.password, NOW)
            .is_err()
    );

    // Consent given anew: the participant may get credentials again, but
    // every credential issued before the revocation stays dead (`fresh`,
    // issued while revoked, expires before `later` and is dead too).
    assert_eq!(creds.reopen("act-1"), 1);
    assert_eq!(creds.revoked_count(), 0);
    for c in [&patient, &later, &fresh] {
        assert!(
            creds.verify_at(&c.username, &c.password, NOW).is_err(),
            "{} revived",
            c.username
        );
    }
    let after = creds
        .issue("act-1", "patient", Duration::from_secs(60))
        .unwrap();
    creds.verify(&after.username, &after.password).unwrap();
}

#[test]
fn credentials_revoked_before_a_reconsent_stay_dead_even_in_the_same_second() {
    let creds = common::credentials();
    let ttl = Duration::from_secs(600);
    let before = creds.issue("act-1", "patient", ttl).unwrap();
    let probe = creds.issue("act-1", "precall-patient", ttl).unwrap();
    creds.revoke("act-1", "patient");
    creds.revoke("act-1", "precall-patient");
    creds.reopen("act-1");
    // Issued in the same second, with the same TTL: a different username
    // (a later expiry), which works; the old one does not.
    let after = creds.issue("act-1", "patient", ttl).unwrap();
    assert_ne!(after.username, before.username);
    assert!(after.expires_at > before.expires_at);
    creds.verify(&after.username, &after.password).unwrap();
    for c in [&before, &probe] {
        assert!(matches!(
            creds.verify(&c.username, &c.password),
            Err(Error::CredentialRevoked { .. })
        ));
    }
    // A second withdrawal and re-consent kills `after` too.
    creds.revoke("act-1", "patient");
    creds.reopen("act-1");
    assert!(creds.verify(&after.username, &after.password).is_err());
    // Records are forgotten only once nothing they cover can be used.
    assert_eq!(creds.prune(0), 0);
    assert_eq!(creds.prune(after.expires_at + 1), 2);
}

#[test]
fn forged_credentials_are_refused() {
    let creds = common::credentials();
    let c = creds.issue_until("act-1", "patient", NOW + 60).unwrap();

    // Another participant's name with the patient's password.
    let forged = format!("{}:act-1:doctor", NOW + 60);
    assert!(matches!(
        creds.verify_at(&forged, &c.password, NOW),
        Err(Error::WrongPassword)
    ));
    // A later expiry with the old password.
    let extended = format!("{}:act-1:patient", NOW + 6000);
    assert!(matches!(
        creds.verify_at(&extended, &c.password, NOW),
        Err(Error::WrongPassword)
    ));
    // A password made with another secret.
    let other = TurnCredentials::new("another-secret").unwrap();
    let c2 = other.issue_until("act-1", "patient", NOW + 60).unwrap();
    assert_eq!(c2.username, c.username);
    assert!(matches!(
        creds.verify_at(&c2.username, &c2.password, NOW),
        Err(Error::WrongPassword)
    ));
    // Truncated, empty and altered passwords.
    for bad in [&c.password[..27], "", &c.password.to_lowercase()] {
        assert!(creds.verify_at(&c.username, bad, NOW).is_err(), "{bad:?}");
    }
    // Usernames outside the format.
    for bad in [
        "patient".to_owned(),
        format!("{}:patient", NOW + 60),
        format!("{}:act-1:patient:extra", NOW + 60),
        format!("{}:act 1:patient", NOW + 60),
        format!("-{}:act-1:patient", NOW + 60),
        "x".repeat(600),
    ] {
        let password = creds.password_for(&bad);
        assert!(
            matches!(
                creds.verify_at(&bad, &password, NOW),
                Err(Error::MalformedUsername(_) | Error::InvalidIdentifier { .. })
            ),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn ids_that_would_break_the_username_cannot_be_issued() {
    let creds = common::credentials();
    for (act, participant) in [
        ("", "p"),
        ("a", ""),
        ("a:b", "p"),
        ("a", "p:q"),
        ("a", "pé"),
        ("a", "p q"),
    ] {
        assert!(
            matches!(
                creds.issue_until(act, participant, NOW),
                Err(Error::InvalidIdentifier { .. })
            ),
            "{act:?} {participant:?}"
        );
    }
    assert!(matches!(TurnCredentials::new(""), Err(Error::EmptySecret)));
    assert!(!format!("{creds:?}").contains(common::SECRET));
}

#[test]
fn a_participant_still_revoked_is_remembered_past_their_credentials_expiry() {
    use media::relay::credentials::REVOKED_KEPT;
    let creds = common::credentials();
    let c = creds
        .issue_until("act-1", "precall-patient", NOW + 120)
        .unwrap();
    creds.revoke("act-1", "precall-patient");
    // Its credentials expired, but the participant is still revoked: kept,
    // so a credential issued soon after is refused too.
    assert_eq!(creds.prune(c.expires_at + 1), 0);
    assert!(creds.is_revoked("act-1", "precall-patient"));
    let next = creds
        .issue_until("act-1", "precall-patient", NOW + 600)
        .unwrap();
    assert!(matches!(
        creds.verify_at(&next.username, &next.password, NOW + 200),
        Err(Error::CredentialRevoked { .. })
    ));
    // Forgotten a day after the last expiry.
    assert_eq!(creds.prune(next.expires_at + REVOKED_KEPT.as_secs() + 1), 1);
}
