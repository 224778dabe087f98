//! Why the witness refuses an `add-checkpoint` request, and the HTTP status
//! c2sp.org/tlog-witness gives each cause.

/// Which part of a request body is malformed (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    #[error("the first line is not `old <size>`")]
    OldLine,
    #[error("a consistency proof line is not a base64 hash")]
    ProofLine,
    #[error("more than 63 consistency proof lines")]
    TooManyProofLines,
    #[error("no empty line before the checkpoint")]
    NoEmptyLine,
    #[error("the checkpoint is not a signed note")]
    Note,
    #[error("the note text is not a checkpoint")]
    Checkpoint,
}

/// A refused `add-checkpoint`: the checkpoint is not cosigned and the
/// witness's state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is not an `add-checkpoint` request.
    #[error("malformed request: {0}")]
    Malformed(Malformation),
    /// 404: the witness does not witness this origin.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 403: no signature from a trusted key of the log.
    #[error("no signature from the log's key")]
    NotSigned,
    /// 403: a signature names a trusted key but does not verify.
    #[error("a signature from the log's key does not verify")]
    BadSignature,
    /// 400: `old` is larger than the checkpoint's size.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldAboveSize { old: u64, size: u64 },
    /// 409: `old` is not the size of the checkpoint the witness holds; the
    /// answer's body gives `held`.
    #[error("the witness holds size {held}")]
    Conflict { held: u64 },
    /// 422: a checkpoint of size 0 whose root is not the empty tree's hash.
    #[error("a tree of size 0 must have the empty tree's hash")]
    EmptyTreeHash,
    /// 422: `old` is 0 but consistency proof lines were sent.
    #[error("a proof from size 0 must be empty")]
    ProofFromZero,
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof does not verify")]
    BadProof,
    /// 422: same size as the held checkpoint, another root hash (a fork).
    #[error("same size as the held checkpoint but another root hash")]
    RootMismatch,
}

impl Refusal {
    /// The HTTP status the specification prescribes.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::OldAboveSize { .. } => 400,
            Refusal::NotSigned | Refusal::BadSignature => 403,
            Refusal::UnknownOrigin => 404,
            Refusal::Conflict { .. } => 409,
            Refusal::EmptyTreeHash
            | Refusal::ProofFromZero
            | Refusal::BadProof
            | Refusal::RootMismatch => 422,
        }
    }

    /// A short, stable code for logs and answer bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UnknownOrigin => "unknown_origin",
            Refusal::NotSigned => "not_signed",
            Refusal::BadSignature => "bad_signature",
            Refusal::OldAboveSize { .. } => "old_above_size",
            Refusal::Conflict { .. } => "conflict",
            Refusal::EmptyTreeHash => "empty_tree_hash",
            Refusal::ProofFromZero => "proof_from_zero",
            Refusal::BadProof => "bad_proof",
            Refusal::RootMismatch => "root_mismatch",
        }
    }
}
