//! The signaling decoder, on the path `signaling/src/ws.rs` takes for every
//! text frame: `protocol::decode`, then, for a `hello`, the invitation
//! check. WebSocket text frames are UTF-8 by then (axum refuses others).
//!
//! Checks, beyond "no panic": a decoded message encodes and decodes back
//! to itself, and a refusal's reason never quotes the frame (it may hold
//! personal data).
#![no_main]

use libfuzzer_sys::fuzz_target;
use session::Timestamp;
use signaling::invitation::InvitationKeys;
use signaling::protocol::{ClientMessage, DecodeError, MAX_FRAME_BYTES, decode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode(text) {
        Ok(msg) => {
            assert!(text.len() <= MAX_FRAME_BYTES);
            let again = serde_json::to_string(&msg).expect("a decoded message encodes");
            let back: ClientMessage = serde_json::from_str(&again).expect("and decodes back");
            assert_eq!(back, msg);
            if let ClientMessage::Hello { token, .. } = &msg {
                let keys = InvitationKeys::new([7; 32], [[8; 32]]);
                let _ = keys.verify(token, Timestamp::from_micros(0));
            }
        }
        Err(DecodeError::TooLarge(n)) => {
            assert_eq!(n, text.len());
            assert!(n > MAX_FRAME_BYTES);
        }
        Err(DecodeError::Malformed(why)) => {
            // Only the fixed wording and the line and column numbers.
            assert!(
                why.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " (),".contains(c)),
                "the reason quotes the frame: {why}"
            );
        }
    }
});
