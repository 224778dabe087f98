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
//! | 1 | format version, `1` |
//! | 8 | [`KeyId`] of the data key, so a rotated key can be found |
//! | 24 | random XChaCha20 nonce |
//! | rest | XChaCha20-Poly1305 ciphertext and tag of the JSON array |
//!
//! The associated data binds the blob to its act and event time:
//! `"teleconsult/sealed/v1" ‖ act id (16) ‖ at (i64 BE µs)`. (The event's
//! position is not in it, so that sealing can happen before the writer
//! assigns one; the hash chain fixes the position.)

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
const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 24;

fn aad(act: ActId, at: Timestamp) -> Vec<u8> {
    let mut a = b"teleconsult/sealed/v1".to_vec();
    a.extend_from_slice(act.as_bytes());
    a.extend_from_slice(&at.as_micros().to_be_bytes());
    a
}

/// Splits `value` into its public JSON and its sealed blob.
pub fn seal(
    mut value: Value,
    key: &DataKey,
    act: ActId,
    at: Timestamp,
) -> Result<(Value, Vec<u8>), Error> {
    let mut secrets = Vec::new();
    extract(&mut value, &mut secrets);
    if secrets.is_empty() {
        return Ok((value, Vec::new()));
    }
    let plain = serde_json::to_vec(&Value::Array(secrets))?;
    let blob = seal_bytes(&plain, key, &aad(act, at))?;
    Ok((value, blob))
}

/// Seals arbitrary bytes (e.g. an account's secrets) in the same blob
/// layout as events, bound to `context` instead of an act and time.
pub fn seal_bytes(plain: &[u8], key: &DataKey, context: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Key(format!("the system random source failed: {e}")))?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: context,
            },
        )
        .map_err(|_| Error::Encoding("encryption failed".into()))?;
    let mut blob = Vec::with_capacity(HEADER + ct.len());
    blob.push(VERSION);
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
    if blob.len() < HEADER || blob[0] != VERSION {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&blob[1..9]);
    Some(KeyId(id))
}

/// Puts the sealed values back into `public`, giving the event's full JSON.
pub fn unseal(
    mut public: Value,
    blob: &[u8],
    keys: &[DataKey],
    act: ActId,
    at: Timestamp,
) -> Result<Value, Error> {
    if blob.is_empty() {
        return Ok(public);
    }
    let plain = open_bytes(blob, keys, &aad(act, at))?;
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

    #[test]
    fn seal_then_unseal_round_trips() {
        let key = DataKey::from_bytes([3; 32]);
        let act = ActId::random();
        let v = json!({"type": "x", "name": {"$pii": "Camille Fictive"}, "list": [{"$pii": 5}, 6]});
        let at = Timestamp::from_micros(7);
        let (public, blob) = seal(v.clone(), &key, act, at).unwrap();
        let text = public.to_string();
        assert!(!text.contains("Fictive"));
        assert!(!String::from_utf8_lossy(&blob).contains("Fictive"));
        assert_eq!(public["list"][0], json!({"$sealed": 0}));
        assert_eq!(public["name"], json!({"$sealed": 1}));
        let back = unseal(public.clone(), &blob, std::slice::from_ref(&key), act, at).unwrap();
        assert_eq!(back, v);
        // Bound to its act and time: moved elsewhere, it does not open.
        let later = Timestamp::from_micros(8);
        assert!(
            unseal(
                public.clone(),
                &blob,
                std::slice::from_ref(&key),
                act,
                later
            )
            .is_err()
        );
        assert!(
            unseal(
                public.clone(),
                &blob,
                std::slice::from_ref(&key),
                ActId::random(),
                at
            )
            .is_err()
        );
        // Another key does not open it.
        let other = DataKey::from_bytes([4; 32]);
        assert!(unseal(public, &blob, &[other], act, at).is_err());
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
        let (public, blob) = seal(
            json!({"a": 1}),
            &key,
            ActId::random(),
            Timestamp::from_micros(1),
        )
        .unwrap();
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
