//! The invitation token parser, `InvitationKeys::verify`: the only
//! credential a patient has, read from the `hello` of any client.
//!
//! The input is split: its first 33 bytes (when there are that many) make
//! an invitation that is issued and must verify back to itself (or be
//! refused as expired); the whole input as text is verified as a token,
//! and so is `v1.` + that text, so the fuzzer does not spend its time
//! finding the prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session::participant::Role;
use session::{ActId, ParticipantId, Timestamp};
use signaling::Error;
use signaling::invitation::{Invitation, InvitationKeys};

fuzz_target!(|data: &[u8]| {
    let keys = InvitationKeys::new([7; 32], [[8; 32]]);
    let now = Timestamp::from_micros(1_800_000_000_000_000);

    if let Some((head, _)) = data.split_first_chunk::<33>() {
        let role = match head[20] % 4 {
            0 => Role::Patient,
            1 => Role::Requester,
            2 => Role::Expert,
            _ => Role::Companion,
        };
        let inv = Invitation {
            act: ActId::from_bytes(head[..16].try_into().unwrap()),
            participant: ParticipantId(u32::from_be_bytes(head[16..20].try_into().unwrap())),
            role,
            expires_at: Timestamp::from_micros(i64::from_be_bytes(
                head[21..29].try_into().unwrap(),
            )),
        };
        let token = keys.issue(&inv);
        match keys.verify(&token, now) {
            Ok(back) => {
                assert_eq!(back, inv);
                assert!(now < inv.expires_at);
            }
            Err(Error::ExpiredInvitation(_)) => assert!(now >= inv.expires_at),
            Err(e) => panic!("a token we issued is refused: {e}"),
        }
        // A retired key still verifies; a foreign one never does.
        let rotated = InvitationKeys::new([9; 32], [[7; 32]]);
        assert_eq!(
            rotated.verify(&token, now).is_ok(),
            keys.verify(&token, now).is_ok()
        );
        let foreign = InvitationKeys::new([head[32]; 32], []);
        if head[32] != 7 {
            assert!(foreign.verify(&token, now).is_err());
        }
    }

    // A token that verifies is exactly the one `issue` gives for what it
    // grants (a seed may be a genuine token): no second spelling of a
    // token (padding, trailing bits, other alphabet) is accepted.
    let text = String::from_utf8_lossy(data);
    for token in [text.to_string(), format!("v1.{text}")] {
        if let Ok(inv) = keys.verify(&token, now) {
            let retired = InvitationKeys::new([8; 32], []);
            assert!(
                keys.issue(&inv) == token || retired.issue(&inv) == token,
                "a second spelling verifies: {token}"
            );
        }
    }
});
