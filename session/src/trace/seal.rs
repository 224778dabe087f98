//! Sealing: moving an event's personal and medical fields into one
//! AEAD-encrypted blob, so the rest stays readable (and verifiable) without
//! the data key.
//!
//! An event is first serialized to JSON, where every [`Pii`](crate::Pii)
//! appears as `{"$pii": value}`. Sealing walks that JSON in document order,
//! replaces the n-th such object by `{"$sealed": n}` and collects the values
//! into a JSON array, which is encrypted.
//!
//! Sealed blob layout (empty when the event has no personal field):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version: `2` for events sealed now, `1` for older ones |
//! | 8 | [`KeyId`] of the data key, so a rotated key can be found |
//! | 24 | random XChaCha20 nonce |
//! | rest | XChaCha20-Poly1305 ciphertext and tag of the JSON array |
//!
//! The associated data binds the blob to its event, see [`event_aad`]:
//! version 2 names the act, the event's seq, its time, its kind and, in
//! marker order, the JSON path of each sealed field, so a blob moved to
//! another event, or a marker moved to another field, does not open.
//! Version 1 (stores written before) named only the act and the time; such
//! blobs still open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::{Map, Value};

use crate::Error;
use crate::ids::ActId;
use crate::keys::{DataKey, KeyId};
use crate::pii::PII_KEY;
use crate::timestamp::Timestamp;

/// The marker left in the public JSON where a value was sealed.
pub const SEALED_KEY: &str = "$sealed";
/// The blob format of [`seal_bytes`] (and of events sealed before v2).
const VERSION_1: u8 = 1;
/// The blob format of events: associated data per [`event_aad`].
pub const EVENT_VERSION: u8 = 2;
const HEADER: usize = 1 + 8 + 24;

/// Where an event's sealed blob belongs: what its associated data names.
#[derive(Clone, Copy, Debug)]
pub struct SealedAt<'a> {
    pub act: ActId,
    /// The event's position in its act's chain, from 1.
    pub seq: u64,
    pub at: Timestamp,
    /// The event's kind, e.g. `participant_registered`.
    pub kind: &'a str,
}

/// Version-1 associated data: `"teleconsult/sealed/v1" ‖ act (16) ‖ at
/// (i64 BE µs)`. Only read, for blobs sealed before version 2.
fn aad_v1(act: ActId, at: Timestamp) -> Vec<u8> {
    let mut a = b"teleconsult/sealed/v1".to_vec();
    a.extend_from_slice(act.as_bytes());
    a.extend_from_slice(&at.as_micros().to_be_bytes());
    a
}

/// Version-2 associated data of an event's blob:
/// `"teleconsult/sealed/v2" ‖ act (16) ‖ seq (u64 BE) ‖ at (i64 BE µs) ‖
/// kind ‖ field count (u32 BE) ‖ each field's path`, where kind and each
/// path are a u32 BE length then UTF-8 bytes. `fields[n]` is the JSON
/// pointer (RFC 6901) of the marker `{"$sealed": n}` in the public JSON,
/// e.g. `/identity/name`. Documented in `docs/TRACE_FORMAT.md`.
pub fn event_aad(to: &SealedAt<'_>, fields: &[String]) -> Vec<u8> {
    fn text(a: &mut Vec<u8>, t: &str) {
        a.extend_from_slice(&(t.len() as u32).to_be_bytes());
        a.extend_from_slice(t.as_bytes());
    }
    let mut a = b"teleconsult/sealed/v2".to_vec();
    a.extend_from_slice(to.act.as_bytes());
    a.extend_from_slice(&to.seq.to_be_bytes());
    a.extend_from_slice(&to.at.as_micros().to_be_bytes());
    text(&mut a, to.kind);
    a.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for f in fields {
        text(&mut a, f);
    }
    a
}

/// Splits `value` into its public JSON and its sealed blob (version 2,
/// bound to the event `to`).
pub fn seal(mut value: Value, key: &DataKey, to: &SealedAt<'_>) -> Result<(Value, Vec<u8>), Error> {
    let mut secrets = Vec::new();
    extract(&mut value, &mut secrets);
    if secrets.is_empty() {
        return Ok((value, Vec::new()));
    }
    let fields = marker_paths(&value, secrets.len())?;
    let plain = serde_json::to_vec(&Value::Array(secrets))?;
    let blob = seal_versioned(&plain, key, &event_aad(to, &fields), EVENT_VERSION)?;
    Ok((value, blob))
}

/// Seals arbitrary bytes (e.g. an account's secrets) in the same blob
/// layout as events, bound to `context` instead of an act and time.
pub fn seal_bytes(plain: &[u8], key: &DataKey, context: &[u8]) -> Result<Vec<u8>, Error> {
    seal_versioned(plain, key, context, VERSION_1)
}

fn seal_versioned(
    plain: &[u8],
    key: &DataKey,
    context: &[u8],
    version: u8,
) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(Error::Randomness)?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: context,
            },
        )
        .map_err(|_| Error::Encryption)?;
    let mut blob = Vec::with_capacity(HEADER + ct.len());
    blob.push(version);
    blob.extend_from_slice(&key.id().0);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    Ok(blob)
}

/// Opens a [`seal_bytes`] blob with whichever of `keys` sealed it.
pub fn open_bytes(blob: &[u8], keys: &[DataKey], context: &[u8]) -> Result<Vec<u8>, Error> {
    let id = blob_key_id(blob).ok_or(Error::Unseal)?;
    let key = keys.iter().find(|k| k.id() == id).ok_or(Error::Unseal)?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&blob[9..HEADER]);
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &blob[HEADER..],
                aad: context,
            },
        )
        .map_err(|_| Error::Unseal)
}

/// The data key id a sealed blob names, if it is well formed.
pub fn blob_key_id(blob: &[u8]) -> Option<KeyId> {
    if blob.len() < HEADER || !matches!(blob[0], VERSION_1 | EVENT_VERSION) {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&blob[1..9]);
    Some(KeyId(id))
}

/// Puts the sealed values back into `public`, giving the event's full JSON.
/// Opens version-2 blobs bound to `to`, and version-1 blobs bound to its
/// act and time.
pub fn unseal(
    mut public: Value,
    blob: &[u8],
    keys: &[DataKey],
    to: &SealedAt<'_>,
) -> Result<Value, Error> {
    if blob.is_empty() {
        return Ok(public);
    }
    let context = match blob.first() {
        Some(&EVENT_VERSION) => {
            let count = count_markers(&public);
            event_aad(to, &marker_paths(&public, count)?)
        }
        _ => aad_v1(to.act, to.at),
    };
    let plain = open_bytes(blob, keys, &context)?;
    let Value::Array(mut secrets) = serde_json::from_slice(&plain)? else {
        return Err(Error::Unseal);
    };
    let mut taken = vec![false; secrets.len()];
    restore(&mut public, &mut secrets, &mut taken)?;
    Ok(public)
}

/// Replaces sealed markers by `"[sealed]"`, for a reader without the key.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) if is_marker(map, SEALED_KEY) => {
            *value = Value::String("[sealed]".into())
        }
        Value::Object(map) => map.values_mut().for_each(redact),
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Replaces `{"$pii": v}` by `v`, for showing an opened event.
pub fn strip_markers(value: &mut Value) {
    match value {
        Value::Object(map) if is_marker(map, PII_KEY) => {
            if let Some(mut inner) = map.remove(PII_KEY) {
                strip_markers(&mut inner);
                *value = inner;
            }
        }
        Value::Object(map) => map.values_mut().for_each(strip_markers),
        Value::Array(items) => items.iter_mut().for_each(strip_markers),
        _ => {}
    }
}

/// The JSON pointer of each `{"$sealed": n}` marker in `value`, by `n`;
/// refused unless the markers are exactly `0..count`, once each.
fn marker_paths(value: &Value, count: usize) -> Result<Vec<String>, Error> {
    let mut paths = vec![None; count];
    collect_paths(value, &mut String::new(), &mut paths)?;
    paths.into_iter().map(|p| p.ok_or(Error::Unseal)).collect()
}

fn count_markers(value: &Value) -> usize {
    match value {
        Value::Object(map) if is_marker(map, SEALED_KEY) => 1,
        Value::Object(map) => map.values().map(count_markers).sum(),
        Value::Array(items) => items.iter().map(count_markers).sum(),
        _ => 0,
    }
}

fn collect_paths(
    value: &Value,
    at: &mut String,
    paths: &mut [Option<String>],
) -> Result<(), Error> {
    let mut child = |at: &mut String, token: &str, v: &Value| {
        let len = at.len();
        at.push('/');
        at.push_str(&token.replace('~', "~0").replace('/', "~1"));
        let r = collect_paths(v, at, paths);
        at.truncate(len);
        r
    };
    match value {
        Value::Object(map) if is_marker(map, SEALED_KEY) => {
            let slot = map
                .get(SEALED_KEY)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| paths.get_mut(n))
                .filter(|slot| slot.is_none())
                .ok_or(Error::Unseal)?;
            *slot = Some(at.clone());
            Ok(())
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| child(at, k, v)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| child(at, &i.to_string(), v)),
        _ => Ok(()),
    }
}

fn is_marker(map: &Map<String, Value>, key: &str) -> bool {
    map.len() == 1 && map.contains_key(key)
}

fn extract(value: &mut Value, secrets: &mut Vec<Value>) {
    match value {
        Value::Object(map) if is_marker(map, PII_KEY) => {
            let inner = map.remove(PII_KEY).unwrap_or(Value::Null);
            let mut marker = Map::new();
            marker.insert(SEALED_KEY.into(), Value::from(secrets.len()));
            secrets.push(inner);
            *value = Value::Object(marker);
        }
        Value::Object(map) => map.values_mut().for_each(|v| extract(v, secrets)),
        Value::Array(items) => items.iter_mut().for_each(|v| extract(v, secrets)),
        _ => {}
    }
}

fn restore(value: &mut Value, secrets: &mut [Value], taken: &mut [bool]) -> Result<(), Error> {
    match value {
        Value::Object(map) if is_marker(map, SEALED_KEY) => {
            let n = map
                .get(SEALED_KEY)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n < secrets.len() && !taken[n])
                .ok_or(Error::Unseal)?;
            taken[n] = true;
            let mut marked = Map::new();
            marked.insert(PII_KEY.into(), std::mem::take(&mut secrets[n]));
            *value = Value::Object(marked);
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                restore(v, secrets, taken)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                restore(v, secrets, taken)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to(act: ActId, seq: u64, at: i64) -> SealedAt<'static> {
        SealedAt {
            act,
            seq,
            at: Timestamp::from_micros(at),
            kind: "participant_registered",
        }
    }

    #[test]
    fn seal_then_unseal_round_trips() {
        let key = DataKey::from_bytes([3; 32]);
        let act = ActId::random();
        let v = json!({"type": "x", "name": {"$pii": "Camille Fictive"}, "list": [{"$pii": 5}, 6]});
        let here = to(act, 4, 7);
        let (public, blob) = seal(v.clone(), &key, &here).unwrap();
        assert_eq!(blob[0], EVENT_VERSION);
        let text = public.to_string();
        assert!(!text.contains("Fictive"));
        assert!(!String::from_utf8_lossy(&blob).contains("Fictive"));
        assert_eq!(public["list"][0], json!({"$sealed": 0}));
        assert_eq!(public["name"], json!({"$sealed": 1}));
        let keys = std::slice::from_ref(&key);
        let back = unseal(public.clone(), &blob, keys, &here).unwrap();
        assert_eq!(back, v);
        // Bound to its act, seq, time and kind: elsewhere it does not open.
        for elsewhere in [
            to(ActId::random(), 4, 7),
            to(act, 5, 7),
            to(act, 4, 8),
            SealedAt {
                kind: "callback_number_given",
                ..here
            },
        ] {
            assert!(unseal(public.clone(), &blob, keys, &elsewhere).is_err());
        }
        // And to its fields: markers swapped between fields do not open.
        let mut swapped = public.clone();
        swapped["list"][0] = json!({"$sealed": 1});
        swapped["name"] = json!({"$sealed": 0});
        assert!(matches!(
            unseal(swapped, &blob, keys, &here),
            Err(Error::Unseal)
        ));
        // A marker moved to another field does not open either.
        let mut moved = public.clone();
        let m = moved["name"].take();
        moved.as_object_mut().unwrap().insert("note".into(), m);
        moved.as_object_mut().unwrap().remove("name");
        assert!(unseal(moved, &blob, keys, &here).is_err());
        // Another key does not open it.
        let other = DataKey::from_bytes([4; 32]);
        assert!(unseal(public, &blob, &[other], &here).is_err());
    }

    #[test]
    fn two_events_blobs_swapped_do_not_open() {
        // Two events of one act at the same instant (one command's events
        // share their time), each with a name: version 1 let their blobs
        // be swapped; version 2 binds each to its seq.
        let key = DataKey::from_bytes([3; 32]);
        let keys = std::slice::from_ref(&key);
        let act = ActId::random();
        let (a, b) = (to(act, 2, 7), to(act, 3, 7));
        let (pa, ba) = seal(json!({"name": {"$pii": "Nom Fictif A"}}), &key, &a).unwrap();
        let (pb, bb) = seal(json!({"name": {"$pii": "Nom Fictif B"}}), &key, &b).unwrap();
        assert!(unseal(pa.clone(), &bb, keys, &a).is_err());
        assert!(unseal(pb.clone(), &ba, keys, &b).is_err());
        assert_eq!(
            unseal(pa, &ba, keys, &a).unwrap(),
            json!({"name": {"$pii": "Nom Fictif A"}})
        );
    }

    #[test]
    fn version_1_blobs_still_open() {
        // As stores written before version 2 hold them: `seal_bytes`
        // (version byte 1) over the act and time only.
        let key = DataKey::from_bytes([3; 32]);
        let act = ActId::random();
        let here = to(act, 9, 7);
        let plain = serde_json::to_vec(&json!(["Nom Fictif"])).unwrap();
        let blob = seal_bytes(&plain, &key, &aad_v1(act, here.at)).unwrap();
        assert_eq!(blob[0], 1);
        let public = json!({"name": {"$sealed": 0}});
        let keys = std::slice::from_ref(&key);
        assert_eq!(
            unseal(public.clone(), &blob, keys, &here).unwrap(),
            json!({"name": {"$pii": "Nom Fictif"}})
        );
        // Still bound to its act and time.
        assert!(unseal(public, &blob, keys, &to(act, 9, 8)).is_err());
    }

    #[test]
    fn event_aad_matches_the_documented_layout() {
        // docs/TRACE_FORMAT.md, "sealed blob", version 2, byte by byte.
        let act = ActId::from_bytes([0x11; 16]);
        let here = SealedAt {
            act,
            seq: 3,
            at: Timestamp::from_micros(0x0102_0304_0506_0708),
            kind: "k",
        };
        let fields = vec!["/identity/name".to_string(), "/n~1a".to_string()];
        let mut expected = b"teleconsult/sealed/v2".to_vec();
        expected.extend([0x11; 16]);
        expected.extend([0, 0, 0, 0, 0, 0, 0, 3]);
        expected.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend([0, 0, 0, 1, b'k']);
        expected.extend([0, 0, 0, 2]);
        expected.extend([0, 0, 0, 14]);
        expected.extend(b"/identity/name");
        expected.extend([0, 0, 0, 5]);
        expected.extend(b"/n~1a");
        assert_eq!(event_aad(&here, &fields), expected);
        // The paths are JSON pointers of the markers, by marker number.
        let public = json!({"identity": {"name": {"$sealed": 0}}, "n/a": [{"$sealed": 1}]});
        assert_eq!(
            marker_paths(&public, 2).unwrap(),
            vec!["/identity/name".to_string(), "/n~1a/0".to_string()]
        );
    }

    #[test]
    fn bytes_round_trip_bound_to_context() {
        let key = DataKey::from_bytes([3; 32]);
        let blob = seal_bytes(b"secret", &key, b"ctx").unwrap();
        assert_eq!(blob_key_id(&blob), Some(key.id()));
        let keys = [DataKey::from_bytes([9; 32]), key];
        assert_eq!(open_bytes(&blob, &keys, b"ctx").unwrap(), b"secret");
        assert!(open_bytes(&blob, &keys, b"other").is_err());
        assert!(open_bytes(&blob, &keys[..1], b"ctx").is_err());
        assert!(open_bytes(&blob[..10], &keys, b"ctx").is_err());
    }

    #[test]
    fn nothing_to_seal_gives_empty_blob() {
        let key = DataKey::from_bytes([3; 32]);
        let (public, blob) = seal(json!({"a": 1}), &key, &to(ActId::random(), 1, 1)).unwrap();
        assert!(blob.is_empty());
        assert_eq!(public, json!({"a": 1}));
    }

    #[test]
    fn redact_and_strip() {
        let mut v = json!({"a": {"$sealed": 0}, "b": [{"$sealed": 1}]});
        redact(&mut v);
        assert_eq!(v, json!({"a": "[sealed]", "b": ["[sealed]"]}));
        let mut w = json!({"a": {"$pii": {"b": {"$pii": 1}}}});
        strip_markers(&mut w);
        assert_eq!(w, json!({"a": {"b": 1}}));
    }
}
