//! A stand-in witness for receipt tests: an Ed25519 key that cosigns
//! checkpoints as C2SP tlog-cosignature (`cosignature/v1`, type 0x04)
//! says, so receipts can carry a cosignature before the witness crate is
//! wired in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};

pub struct TestWitness {
    pub name: String,
    pub key: SigningKey,
}

impl TestWitness {
    pub fn new(name: &str, seed: u8) -> TestWitness {
        TestWitness {
            name: name.into(),
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    fn encoded_public(&self) -> Vec<u8> {
        let mut k = vec![0x04];
        k.extend_from_slice(self.key.verifying_key().as_bytes());
        k
    }

    /// Its verifier key string (`name+id+base64(0x04 || key)`).
    pub fn vkey(&self) -> String {
        let k = self.encoded_public();
        format!(
            "{}+{:08x}+{}",
            self.name,
            signed_note::key_id(&self.name, &k),
            BASE64.encode(&k)
        )
    }

    /// The cosignature line of `note`'s checkpoint at `time` (seconds).
    pub fn cosign(&self, note: &[u8], time: u64) -> Vec<u8> {
        let parsed = signed_note::Note::from_bytes(note).expect("a note");
        let mut msg = format!("cosignature/v1\ntime {time}\n").into_bytes();
        msg.extend_from_slice(parsed.text());
        let sig = self.key.sign(&msg).to_bytes();
        let mut payload = signed_note::key_id(&self.name, &self.encoded_public())
            .to_be_bytes()
            .to_vec();
        payload.extend_from_slice(&time.to_be_bytes());
        payload.extend_from_slice(&sig);
        format!("— {} {}\n", self.name, BASE64.encode(payload)).into_bytes()
    }
}
