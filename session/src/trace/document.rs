//! Documents at rest: an attached document's content, and its file name,
//! sealed with the data key and bound to their act and digest. The trace
//! records the attachment (its `attachment_added` event); the store keeps
//! these two blobs beside it (see `docs/TRACE_FORMAT.md`, `documents`).
//!
//! Content blob layout (as [`seal::seal_bytes`]'s):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version: `1` |
//! | 8 | [`KeyId`](crate::keys::KeyId) of the data key |
//! | 24 | random XChaCha20 nonce |
//! | rest | XChaCha20-Poly1305 ciphertext of the document, then the 16-byte tag |
//!
//! Associated data: [`document_aad`] (`"teleconsult/document/v1" ‖ act
//! (16) ‖ sha256 (32)`), so a blob moved to another act or digest does
//! not open. The name is sealed by [`seal::seal_bytes`] under
//! [`name_aad`]. Opening checks the content's SHA-256 against the digest
//! it is stored under, so even a blob sealed with the right key for the
//! wrong content is refused.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use super::seal;
use crate::Error;
use crate::document::Upload;
use crate::ids::{ActId, Sha256};
use crate::keys::DataKey;
use crate::pii::Pii;

/// The version byte of a document's content blob.
pub const DOCUMENT_VERSION: u8 = 1;
/// Version, key id and nonce.
const HEADER: usize = 1 + 8 + 24;
const TAG: usize = 16;

/// The associated data of a document's content: `"teleconsult/document/v1"
/// ‖ act (16) ‖ sha256 (32)`.
pub fn document_aad(act: ActId, sha256: &Sha256) -> Vec<u8> {
    aad(b"teleconsult/document/v1", act, sha256)
}

/// The associated data of a document's sealed file name:
/// `"teleconsult/document-name/v1" ‖ act (16) ‖ sha256 (32)`.
pub fn name_aad(act: ActId, sha256: &Sha256) -> Vec<u8> {
    aad(b"teleconsult/document-name/v1", act, sha256)
}

fn aad(tag: &[u8], act: ActId, sha256: &Sha256) -> Vec<u8> {
    let mut a = Vec::with_capacity(tag.len() + 16 + 32);
    a.extend_from_slice(tag);
    a.extend_from_slice(act.as_bytes());
    a.extend_from_slice(sha256.as_bytes());
    a
}

/// Seals `upload`'s content for `act` with a random nonce. The content is
/// copied once, into the blob, and encrypted there.
pub fn seal_document(act: ActId, upload: &Upload, key: &DataKey) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(Error::Randomness)?;
    let plain = upload.bytes();
    let mut blob = Vec::with_capacity(HEADER + plain.len() + TAG);
    blob.push(DOCUMENT_VERSION);
    blob.extend_from_slice(&key.id().0);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(plain);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let tag = cipher
        .encrypt_inout_detached(
            &XNonce::from(nonce),
            &document_aad(act, &upload.sha256()),
            (&mut blob[HEADER..]).into(),
        )
        .map_err(|_| Error::Encryption)?;
    blob.extend_from_slice(&tag);
    Ok(blob)
}

/// Opens a document's content blob with whichever of `keys` sealed it, and
/// checks that its SHA-256 is `sha256`: [`Error::Unseal`] if it does not
/// open (wrong key, blob changed or moved), [`Error::DocumentDigest`] if
/// it opens to other content.
pub fn open_document(
    act: ActId,
    sha256: &Sha256,
    blob: &[u8],
    keys: &[DataKey],
) -> Result<Vec<u8>, Error> {
    if blob.len() < HEADER + TAG || blob[0] != DOCUMENT_VERSION {
        return Err(Error::Unseal);
    }
    let id = seal::blob_key_id(blob).ok_or(Error::Unseal)?;
    let key = keys.iter().find(|k| k.id() == id).ok_or(Error::Unseal)?;
    let nonce: [u8; 24] = blob[9..HEADER].try_into().map_err(|_| Error::Unseal)?;
    let (sealed, tag) = blob[HEADER..].split_at(blob.len() - HEADER - TAG);
    let tag: [u8; TAG] = tag.try_into().map_err(|_| Error::Unseal)?;
    let mut plain = sealed.to_vec();
    XChaCha20Poly1305::new(key.bytes().into())
        .decrypt_inout_detached(
            &XNonce::from(nonce),
            &document_aad(act, sha256),
            plain.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .map_err(|_| Error::Unseal)?;
    if Sha256::digest(&plain) != *sha256 {
        return Err(Error::DocumentDigest);
    }
    Ok(plain)
}

/// Seals a document's file name (UTF-8) for `act` and `sha256`.
pub fn seal_name(act: ActId, sha256: &Sha256, name: &str, key: &DataKey) -> Result<Vec<u8>, Error> {
    seal::seal_bytes(name.as_bytes(), key, &name_aad(act, sha256))
}

/// Opens a [`seal_name`] blob.
pub fn open_name(
    act: ActId,
    sha256: &Sha256,
    blob: &[u8],
    keys: &[DataKey],
) -> Result<Pii<String>, Error> {
    let plain = seal::open_bytes(blob, keys, &name_aad(act, sha256))?;
    String::from_utf8(plain)
        .map(Pii::new)
        .map_err(|_| Error::Unseal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf() -> Upload {
        Upload::inspect(b"%PDF-1.7\n% compte rendu fictif\n".to_vec()).unwrap()
    }

    #[test]
    fn documents_round_trip_bound_to_their_act_and_digest() {
        let key = DataKey::from_bytes([3; 32]);
        let keys = [DataKey::from_bytes([9; 32]), key.clone()];
        let act = ActId::random();
        let doc = pdf();
        let blob = seal_document(act, &doc, &key).unwrap();
        assert_eq!(blob[0], DOCUMENT_VERSION);
        assert_eq!(seal::blob_key_id(&blob), Some(key.id()));
        assert_eq!(blob.len(), HEADER + doc.bytes().len() + TAG);
        assert!(!blob.windows(12).any(|w| w == b"compte rendu"));
        assert_eq!(
            open_document(act, &doc.sha256(), &blob, &keys).unwrap(),
            doc.bytes()
        );
        // Elsewhere, or with another key, it does not open.
        let other = Sha256::digest(b"other");
        assert!(matches!(
            open_document(ActId::random(), &doc.sha256(), &blob, &keys),
            Err(Error::Unseal)
        ));
        assert!(matches!(
            open_document(act, &other, &blob, &keys),
            Err(Error::Unseal)
        ));
        assert!(matches!(
            open_document(act, &doc.sha256(), &blob, &keys[..1]),
            Err(Error::Unseal)
        ));
        // One bit changed, or cut short: refused.
        let mut flipped = blob.clone();
        flipped[HEADER + 3] ^= 1;
        assert!(matches!(
            open_document(act, &doc.sha256(), &flipped, &keys),
            Err(Error::Unseal)
        ));
        assert!(open_document(act, &doc.sha256(), &blob[..HEADER + 4], &keys).is_err());
        // An event-format blob is not a document's.
        let mut v2 = blob.clone();
        v2[0] = seal::EVENT_VERSION;
        assert!(open_document(act, &doc.sha256(), &v2, &keys).is_err());
    }

    #[test]
    fn the_digest_is_checked_after_opening() {
        // Content sealed under another content's digest (only someone with
        // the data key could do it) opens, and is refused.
        let key = DataKey::from_bytes([3; 32]);
        let act = ActId::random();
        let doc = pdf();
        let claimed = Sha256::digest(b"%PDF-1.7\nanother");
        let mut nonce = [0u8; 24];
        nonce[0] = 1;
        let mut body = doc.bytes().to_vec();
        let tag = XChaCha20Poly1305::new(key.bytes().into())
            .encrypt_inout_detached(
                &XNonce::from(nonce),
                &document_aad(act, &claimed),
                body.as_mut_slice().into(),
            )
            .unwrap();
        let mut blob = vec![DOCUMENT_VERSION];
        blob.extend_from_slice(&key.id().0);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&body);
        blob.extend_from_slice(&tag);
        assert!(matches!(
            open_document(act, &claimed, &blob, std::slice::from_ref(&key)),
            Err(Error::DocumentDigest)
        ));
    }

    #[test]
    fn names_round_trip_bound_to_their_document() {
        let key = DataKey::from_bytes([3; 32]);
        let keys = std::slice::from_ref(&key);
        let act = ActId::random();
        let d = pdf().sha256();
        let blob = seal_name(act, &d, "compte-rendu.pdf", &key).unwrap();
        assert_eq!(blob[0], 1);
        assert_eq!(
            open_name(act, &d, &blob, keys).unwrap().expose(),
            "compte-rendu.pdf"
        );
        assert!(open_name(act, &Sha256::digest(b"x"), &blob, keys).is_err());
        assert!(open_name(ActId::random(), &d, &blob, keys).is_err());
    }

    #[test]
    fn associated_data_matches_the_documented_layout() {
        let act = ActId::from_bytes([0x11; 16]);
        let d = Sha256::from_bytes([0x22; 32]);
        let mut expected = b"teleconsult/document/v1".to_vec();
        expected.extend([0x11; 16]);
        expected.extend([0x22; 32]);
        assert_eq!(document_aad(act, &d), expected);
        let mut expected = b"teleconsult/document-name/v1".to_vec();
        expected.extend([0x11; 16]);
        expected.extend([0x22; 32]);
        assert_eq!(name_aad(act, &d), expected);
    }
}
