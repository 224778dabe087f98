//! The live session's exchange reports as a page sends them: chat digests,
//! file shares and screen shares (ids and digests as hex).

use serde_json::{Value, json};
use session::{ActEvent, Event};
use signaling::protocol::ServerMessage;

use super::server::Client;

/// A 16-byte id in hex, all bytes `n`.
pub fn id(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

/// A 32-byte digest in hex, all bytes `n`.
pub fn digest(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

pub fn chat(message: u8, sender: u32, d: u8) -> Value {
    json!({"type": "chat_digest", "message": id(message), "sender": sender, "digest": digest(d)})
}

pub fn offered(share: u8, d: u8, size: u64, name: &str) -> Value {
    json!({"type": "share", "share": id(share), "state": "offered", "digest": digest(d),
           "size": size, "media_type": "image/png", "name": name})
}

pub fn received(share: u8, sender: u32, d: u8) -> Value {
    json!({"type": "share", "share": id(share), "state": "received", "sender": sender, "digest": digest(d)})
}

pub fn cancelled(share: u8) -> Value {
    json!({"type": "share", "share": id(share), "state": "cancelled"})
}

pub fn screen_share(active: bool) -> Value {
    json!({"type": "screen_share", "active": active})
}

/// Waits for `share_recorded` for share `n`.
pub async fn expect_recorded(client: &mut Client, n: u8) {
    let want = id(n);
    client
        .expect("share_recorded", |m| match m {
            ServerMessage::ShareRecorded { share } if share.to_string() == want => Some(()),
            _ => None,
        })
        .await;
}

/// The `exchange_mismatch` frames among `messages`, as (kind, id).
pub fn mismatches(messages: &[ServerMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::ExchangeMismatch { kind, id } => Some((
                serde_json::to_value(kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                id.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The kinds of the incidents `events` open.
pub fn incident_kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::IncidentOpened { kind, .. } => Some(kind.to_string()),
            _ => None,
        })
        .collect()
}

/// Moves held time on by `d` in steps of 2 s, both pages pinging at each
/// (as live pages do), so the server's idle timeout never takes them.
pub async fn pass(d: std::time::Duration, a: &mut Client, b: &mut Client) {
    let step = std::time::Duration::from_secs(2);
    let mut left = d;
    while !left.is_zero() {
        let now = left.min(step);
        super::time::advance(now).await;
        a.sync().await;
        b.sync().await;
        left -= now;
    }
}
