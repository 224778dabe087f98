//! The trace record decoder: how a stored record becomes an event again
//! (`TraceRecord::open`: the `public` JSON, the sealed blob's header,
//! decryption, putting `{"$sealed": n}` markers back as `{"$pii": v}`, and
//! the typed `ActEvent` with its `Pii` fields), what an auditor without
//! the data key sees (`public_view`), and the checkpoint heads codec.
//!
//! Input: `u16 BE length`, that many bytes of `public`, then the rest.
//! When the rest is a JSON array it is sealed with the test key, so that
//! decryption succeeds and the fuzzer reaches the markers and the event
//! types; otherwise it is stored as the raw sealed blob (header parsing).
//!
//! Checks, beyond "no panic": an event that opens seals and opens back to
//! itself, and its public view shows no sealed value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use session::keys::DataKey;
use session::trace::{self, TraceRecord, seal};
use session::{ActId, PII_KEY, Timestamp};

fuzz_target!(|data: &[u8]| {
    let _ = trace::decode_heads(data);
    let _ = seal::blob_key_id(data);

    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (public, tail) = rest.split_at(len);

    let key = DataKey::from_bytes([5; 32]);
    let old_key = DataKey::from_bytes([6; 32]);
    let act = ActId::from_bytes([1; 16]);
    let at = Timestamp::from_micros(1_790_000_000_000_000);

    let sealed = match serde_json::from_slice::<Value>(tail) {
        Ok(Value::Array(secrets)) => {
            let marked = secrets
                .into_iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.insert(PII_KEY.into(), v);
                    Value::Object(m)
                })
                .collect();
            let to = seal::SealedAt {
                act,
                seq: 1,
                at,
                kind: "fuzz",
            };
            let (_, blob) = seal::seal(Value::Array(marked), &key, &to).expect("sealing");
            blob
        }
        _ => tail.to_vec(),
    };

    let record = TraceRecord {
        act,
        seq: 1,
        at,
        kind: "fuzz".into(),
        public: public.to_vec(),
        sealed,
        prev_hash: trace::genesis(act),
        hash: [0; 32],
    };
    let _ = record.computed_hash();

    if let Ok(mut view) = record.public_view() {
        seal::strip_markers(&mut view);
        assert!(!contains_marker(&view, seal::SEALED_KEY), "{view}");
    }

    // Only the right key opens; the wrong one never yields an event.
    if !record.sealed.is_empty() {
        assert!(record.open(&[old_key.clone()]).is_err());
    }
    let Ok(event) = record.open(&[old_key, key.clone()]) else {
        return;
    };
    let again = TraceRecord::build(act, 1, &trace::genesis(act), &event, &key)
        .expect("an opened event seals again");
    assert_eq!(again.kind, event.body.kind());
    let reopened = again.open(&[key]).expect("a sealed event opens");
    assert_eq!(reopened, event);
    if let Ok(view) = again.public_view() {
        assert!(
            !contains_marker(&view, PII_KEY),
            "a personal field is public: {view}"
        );
    }
});

fn contains_marker(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(key) => true,
        Value::Object(m) => m.values().any(|v| contains_marker(v, key)),
        Value::Array(a) => a.iter().any(|v| contains_marker(v, key)),
        _ => false,
    }
}
