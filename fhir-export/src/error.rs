//! What can go wrong building, signing or checking an export.

use thiserror::Error;

/// Why an export could not be built or signed, or why a signed export
/// does not verify. Each verification variant names what fails.
#[derive(Debug, Error)]
pub enum Error {
    /// The trace could not be read or opened.
    #[error(transparent)]
    Session(#[from] session::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The records do not start with the act's request.
    #[error("the trace does not start with the act's request")]
    NoRequest,
    /// A record's event lacks a field the export needs.
    #[error("event #{seq} ({kind}) has no valid {field}")]
    MissingField {
        seq: u64,
        kind: String,
        field: &'static str,
    },
    /// The signing key could not be handed to the JOSE library.
    #[error("the signing key cannot be encoded for JOSE: {0}")]
    KeyEncoding(String),
    /// The JOSE library refused to sign or to read the signature.
    #[error("JWS: {0}")]
    Jose(#[from] jsonwebtoken::errors::Error),
    /// The file is not a FHIR Bundle.
    #[error("not a FHIR Bundle: {0}")]
    NotABundle(&'static str),
    /// The Bundle has no Provenance resource.
    #[error("the Bundle has no Provenance resource: nothing says who signed it")]
    NoProvenance,
    /// The Provenance has no JWS signature.
    #[error("the Provenance has no JWS signature (sigFormat application/jose with data)")]
    NoSignature,
    /// The signature's data is not a detached compact JWS.
    #[error("the signature is not a detached compact JWS: {0}")]
    BadJws(&'static str),
    /// The JWS names an algorithm other than EdDSA.
    #[error("the JWS is signed with {0:?}, not EdDSA")]
    WrongAlgorithm(String),
    /// The JWS names no key, or one that is not trusted.
    #[error("signed with key {0}, which is not among the trusted keys")]
    UntrustedKey(String),
    /// The signature does not match the Bundle as it is now.
    #[error(
        "the signature does not match the Bundle's content: a value was changed after signing (or the wrong key was trusted)"
    )]
    SignatureMismatch,
    /// The Provenance does not target a resource of the Bundle.
    #[error("the Provenance does not target {0}")]
    NotTargeted(String),
}
