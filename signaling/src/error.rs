//! The library's one error type, [`Error`], and the HTTP edge's one,
//! [`ApiError`].
//!
//! [`Error`] wraps what can fail in the server (its own checks, and the
//! `session` and `media` crates' errors); every message is a sentence an
//! operator can act on, without a token, a key or personal data. A
//! variant's message includes its cause (an IO error...), so a log line
//! or the command line's `error:` says it whole.
//!
//! [`ApiError`] is what a route handler returns: the cause of a failure,
//! never a status. Its [`IntoResponse`] chooses the status and the public
//! sentence in one `match`; what the client must not see (store paths, IO
//! errors, integrity findings) goes to the server log only. A leaf module:
//! it names no sibling, so every route may use it.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use session::document::DocumentError;

/// What can go wrong in the server, outside a request's answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- Join links ------------------------------------------------------
    #[error("this link is not a valid invitation")]
    MalformedInvitation,
    #[error("this link was not issued by this server, or was altered")]
    ForgedInvitation,
    /// The link's expiry, RFC 3339.
    #[error("this link expired at {0}; ask for a new one")]
    ExpiredInvitation(String),

    // --- Sign-in ---------------------------------------------------------
    /// The server holds its most sessions; a new one waits for one to end.
    #[error("too many open sessions")]
    TooManySessions,
    #[error("a password has {min} to {max} characters")]
    PasswordLength { min: usize, max: usize },
    #[error("cannot hash the password: {0}")]
    PasswordHash(argon2::password_hash::Error),
    #[error("cannot build the TOTP URI")]
    TotpUri,
    /// The `[oidc]` settings (or the public URL they need) are not usable;
    /// the sentence names the key.
    #[error("settings: {0}")]
    OidcSettings(String),
    /// [`crate::AppState::secure`] was called twice.
    #[error("the server's security is already set")]
    SecurityAlreadySet,

    // --- Keys, files and randomness ----------------------------------------
    #[error("no system randomness: {0}")]
    Randomness(getrandom::Error),
    /// A key file whose content is not a hex 32-byte key.
    #[error("{} does not hold a 32-byte key", path.display())]
    MalformedKey { path: PathBuf },
    /// Reading, writing or creating a file or directory of the data
    /// directory (`action` is the verb: `read`, `write`, `create`...).
    #[error("cannot {action} {}: {cause}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    // --- Settings --------------------------------------------------------
    #[error("settings: cannot read {}: {cause}", path.display())]
    ConfigRead {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("settings: {}: {cause}", path.display())]
    ConfigSyntax {
        path: PathBuf,
        cause: toml::de::Error,
    },
    /// A setting out of its range; `problem` names the key and the range.
    #[error("settings: {}: {problem}", path.display())]
    ConfigValue { path: PathBuf, problem: String },

    /// A `--store` value (or the settings file's `store`) that names no
    /// store this program opens; `from` says where it was given. The value
    /// is not repeated: it may hold a password.
    #[error("{from}: {problem}; give a file path, sqlite:PATH or postgres://USER@HOST/DB")]
    StoreSetting {
        from: &'static str,
        problem: crate::store_setting::StoreSettingError,
    },
    /// A node id (`--node-id`, `node_id`) outside 1 to 64 characters of
    /// `A-Z a-z 0-9 . _ -`.
    #[error("node id {0:?}: 1 to 64 characters among A-Z a-z 0-9 . _ -")]
    NodeId(String),
    /// A Redis URL (`--redis`, `redis`) that is not `redis://` or
    /// `rediss://` with a host; the value is not repeated (it may hold a
    /// password).
    #[error("--redis: not a redis:// or rediss:// URL with a host (redis://HOST:PORT)")]
    RedisUrl,
    /// An advertised address (`--advertise`, `advertise`) that is not an
    /// `http://` or `https://` URL with a host, of at most 256 printable
    /// characters.
    #[error(
        "--advertise: not an http:// or https:// URL with a host (https://HOST:PORT), at most 256 printable characters"
    )]
    Advertise,
    /// `--redis` on a node listening on every address without
    /// `--advertise`: its peers would have no address to reach it at.
    #[error(
        "--redis: this node listens on {0}, which its peers cannot connect to; give --advertise https://HOST:PORT"
    )]
    AdvertiseNeeded(std::net::SocketAddr),
    /// Redis (`--redis`) does not answer at start, or refused what this
    /// node asked; the message names Redis and its host:port.
    #[error("act ownership (--redis): {0}")]
    Redis(#[source] ownership::Error),
    /// The certificate a node trusts its peers with (its own, `--tls-cert`
    /// or the self-signed one) could not be read as PEM certificates.
    #[error("cannot read {0} as PEM certificates for node links")]
    PeerCertificate(std::path::PathBuf),
    /// The cluster secret (`keys/cluster.key`) is not what a node wrote.
    #[error("{0} is not a cluster secret (64 hex digits); copy it from another node")]
    ClusterSecret(std::path::PathBuf),

    // --- Starting --------------------------------------------------------
    #[error("cannot open the trace store: {0}")]
    OpenStore(session::Error),
    /// The relay binds on the server's address, which must be a concrete one.
    #[error(
        "the relay needs a concrete listen address, not {0}; give --listen IP:PORT or --no-relay"
    )]
    RelayNeedsAddress(std::net::IpAddr),
    #[error("cannot start the TURN relay (use --relay-port or --no-relay): {0}")]
    RelayStart(media::Error),

    // --- Witnesses (see `witnessing`) --------------------------------------
    /// A witness URL that is not `http://` or `https://` with a host.
    #[error("witness {url:?}: not an http:// or https:// URL with a host")]
    WitnessUrl { url: String },
    /// A witness's verifier key that is not a C2SP `cosignature/v1` key.
    #[error(
        "witness {url}: invalid verifier key (expected name+id+base64 of a cosignature/v1 key, as `teleconsult witness key` prints it)"
    )]
    WitnessKey { url: String },
    /// The witness client could not be made.
    #[error("witness {url}: {source}")]
    WitnessClient {
        url: String,
        #[source]
        source: witness::Error,
    },
    /// The checkpoint a witness holds for this log does not verify with
    /// this log's keys (or, with a configured witness key, carries no
    /// valid cosignature of it).
    #[error(
        "witness {url}: the checkpoint it holds for {origin} is not signed by this log's key{}",
        if *cosigned { " and cosigned by the configured witness key" } else { "" }
    )]
    WitnessCheckpoint {
        url: String,
        origin: String,
        cosigned: bool,
    },
    /// Rollback: a witness holds a larger tree than this store's.
    #[error(
        "rollback: witness {url} holds size {held}, this store has {local} (an older copy of the store was put back)"
    )]
    Rollback { url: String, held: u64, local: u64 },
    /// A witness holds a checkpoint whose root differs from this store's
    /// tree at that size: a forked or replaced store.
    #[error(
        "inconsistent: witness {url} holds size {size}, whose root differs from this store's at size {size} (a forked or replaced store)"
    )]
    ForkedStore { url: String, size: u64 },

    // --- Listening -------------------------------------------------------
    #[error("plain HTTP is allowed only on loopback, not on {0}; give a certificate")]
    PlainHttpOffLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Certificate(rcgen::Error),
    #[error("cannot load the certificate {}: {cause}", path.display())]
    LoadCertificate {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The listener failed while serving.
    #[error("server stopped: {0}")]
    Serve(std::io::Error),

    // --- The crates below ------------------------------------------------
    #[error(transparent)]
    Session(#[from] session::Error),
    #[error(transparent)]
    Media(#[from] media::Error),
}

impl Error {
    /// A failed file operation on `path`.
    pub fn file(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Error {
        Error::File {
            action,
            path: path.into(),
            cause,
        }
    }
}

/// Why a request failed, as a route handler returns it (with `?`). The
/// variants are causes; [`IntoResponse`] turns each into a status and a
/// sentence in one place.
#[derive(Debug)]
pub enum ApiError {
    // --- What the client sent ----------------------------------------------
    /// The body is not the JSON the route takes (axum's sentence says why).
    Body(JsonRejection),
    /// A login of 0 or more than 128 bytes.
    LoginLength,
    /// A path segment that is not an act id.
    NotAnActId,
    /// A path segment that is not a document's SHA-256 (64 hex digits).
    NotADigest,
    /// An upload without its file name (`?name=FILE`).
    DocumentNameMissing,
    /// An upload over the most one document may weigh (by its
    /// `Content-Length`, before reading, or as it streamed in).
    UploadTooLarge {
        max: u64,
    },
    /// An upload whose bytes are not of an accepted type.
    UnsupportedDocumentType,
    /// An upload whose body ended before its end (the client went away,
    /// or sent less than it declared); nothing was stored.
    UploadIncomplete,
    /// An attestation text other than the one the server shows.
    AttestationTextUnknown,

    // --- Who is asking -----------------------------------------------------
    /// No `Authorization: Bearer` on a route that takes the operator token.
    OperatorTokenMissing,
    OperatorTokenInvalid,
    /// No session cookie on a route that needs a signed-in person.
    SignInRequired,
    /// The session cookie names no live session.
    SessionEnded,
    AccountDisabled,
    /// Sign-in refused; the reason is in the access log, not in the answer.
    CredentialsInvalid,
    /// Too many sign-in attempts, or calls from one address: seconds to wait.
    TooManyRequests(u64),

    // --- What they may do --------------------------------------------------
    /// A professional creating an act in another professional's name.
    NotRequester,
    /// Reading an act the signed-in person does not take part in.
    NotTakingPart,
    /// Asking for one's link to an act that does not name one.
    NotNamed,
    /// The operator token reading traces (it only creates acts).
    OperatorCannotRead,
    /// A join link (a patient's, a companion's...) presented to the
    /// routes of an act's request and documents: those are for its
    /// professionals, signed in.
    PatientLinkNoDocuments,
    /// Answering, reviewing or reporting by someone other than the act's
    /// expert (the requester, an administrator).
    NotTheExpert,
    /// Recording the patient's consent by someone other than the act's
    /// requesting professional.
    NotTheRequester,
    /// A document that is not attached to this act (it may be another
    /// act's: the answer is the same).
    UnknownDocument,
    /// The act is over; its phase, for the sentence.
    ActEnded(session::Phase),
    /// Asking for the compte rendu of an act that has none yet (not
    /// concluded, or cancelled).
    ActNotConcluded,

    // --- What the server can do now ----------------------------------------
    /// Sign-in and the trace routes are not configured on this server.
    SignInOff,
    /// The server runs no pre-call connection test peer.
    NoConnectionTest,
    /// The act's room stopped while the request waited for it.
    RoomRestarting,
    /// Witnesses are configured and none has cosigned a checkpoint
    /// covering the act yet (one is down or slow): a receipt is only
    /// handed out witnessed; try again in a moment.
    ReceiptPending,
    /// The in-flight cap refused the request.
    Busy,
    /// The request took longer than the route's timeout.
    TimedOut,
    /// A blocking task panicked or was cancelled.
    Task(tokio::task::JoinError),
    /// A middleware layer failed otherwise (neither busy nor timed out).
    Layer(tower::BoxError),
    /// The act names the signed-in person, yet no link came out for them:
    /// a fault of ours, not a refusal.
    NoLinkIssued,

    // --- Failures of the layers below --------------------------------------
    Session(session::Error),
    Server(Error),
    Media(media::Error),
    /// Building or signing a FHIR export failed (not a reading refusal:
    /// those are `Session`).
    FhirExport(fhir_export::Error),
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::Body(e)
    }
}

impl From<session::Error> for ApiError {
    fn from(e: session::Error) -> Self {
        ApiError::Session(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Session(e) => ApiError::Session(e),
            Error::Media(e) => ApiError::Media(e),
            e => ApiError::Server(e),
        }
    }
}

impl From<fhir_export::Error> for ApiError {
    fn from(e: fhir_export::Error) -> Self {
        match e {
            fhir_export::Error::Session(e) => ApiError::Session(e),
            e => ApiError::FhirExport(e),
        }
    }
}

impl From<media::Error> for ApiError {
    fn from(e: media::Error) -> Self {
        ApiError::Media(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Task(e)
    }
}

/// The sentence of a failure the client cannot act on; the cause is logged.
const INTERNAL: &str = "the server could not do this; try again";
/// The code of such a failure.
const INTERNAL_CODE: &str = "internal";

impl ApiError {
    /// The status, the stable code and the sentence the client gets. The
    /// one place that chooses them; internals are logged here, never
    /// returned. The code (snake_case, one per kind of failure, listed in
    /// docs/PROTOCOL.md) is what a page translates; the sentence is for
    /// people reading the API.
    pub fn status_code_and_message(&self) -> (StatusCode, &'static str, String) {
        use session::Error as S;
        let says = |status: StatusCode, code: &'static str, m: &str| (status, code, m.to_string());
        match self {
            ApiError::Body(e) => (StatusCode::BAD_REQUEST, "bad_body", e.body_text()),
            ApiError::LoginLength => says(
                StatusCode::BAD_REQUEST,
                "login_length",
                "a login has 1 to 128 bytes",
            ),
            ApiError::NotAnActId => says(StatusCode::BAD_REQUEST, "not_an_act_id", "not an act id"),
            ApiError::NotADigest => says(
                StatusCode::BAD_REQUEST,
                "not_a_digest",
                "not a document's SHA-256 (64 hexadecimal digits)",
            ),
            ApiError::DocumentNameMissing => says(
                StatusCode::BAD_REQUEST,
                "document_name_missing",
                "give the file's name in the query: ?name=FILE",
            ),
            ApiError::UploadTooLarge { max } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!(
                    "this file is larger than {} MiB, the most one document may weigh",
                    max / (1024 * 1024)
                ),
            ),
            ApiError::UnsupportedDocumentType
            | ApiError::Session(S::Document(DocumentError::NotADocument)) => says(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_document_type",
                "this file is not a JPEG, PNG, WebP, PDF or DICOM file; only these types are accepted (told by the file's content, not its name)",
            ),
            ApiError::UploadIncomplete => says(
                StatusCode::BAD_REQUEST,
                "upload_incomplete",
                "the upload was cut short; nothing was stored: send the file again",
            ),
            ApiError::AttestationTextUnknown => says(
                StatusCode::BAD_REQUEST,
                "attestation_text_unknown",
                "this attestation text is not the one the server shows (GET /api/attestation)",
            ),
            ApiError::OperatorTokenMissing => says(
                StatusCode::UNAUTHORIZED,
                "operator_token_missing",
                "an operator token is needed (Authorization: Bearer ...)",
            ),
            ApiError::OperatorTokenInvalid => says(
                StatusCode::UNAUTHORIZED,
                "operator_token_invalid",
                "this operator token is not valid",
            ),
            ApiError::SignInRequired => says(
                StatusCode::UNAUTHORIZED,
                "sign_in_required",
                "sign in first (POST /api/session)",
            ),
            ApiError::SessionEnded => says(
                StatusCode::UNAUTHORIZED,
                "session_ended",
                "the session has ended; sign in again",
            ),
            ApiError::AccountDisabled => says(
                StatusCode::UNAUTHORIZED,
                "account_disabled",
                "this account is disabled",
            ),
            ApiError::CredentialsInvalid => says(
                StatusCode::UNAUTHORIZED,
                "credentials_invalid",
                "the login, password or code is not valid",
            ),
            ApiError::TooManyRequests(_) => says(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many attempts; wait and try again",
            ),
            ApiError::NotRequester => says(
                StatusCode::FORBIDDEN,
                "not_requester",
                "a professional creates an act only as its requesting professional; name other professionals as the expert",
            ),
            ApiError::NotTakingPart => says(
                StatusCode::FORBIDDEN,
                "not_taking_part",
                "you do not take part in this act",
            ),
            ApiError::NotNamed => says(
                StatusCode::FORBIDDEN,
                "not_named",
                "this act does not name you as a professional",
            ),
            ApiError::OperatorCannotRead => says(
                StatusCode::FORBIDDEN,
                "operator_cannot_read",
                "the operator token creates acts; reading needs a professional's sign-in",
            ),
            ApiError::PatientLinkNoDocuments => says(
                StatusCode::FORBIDDEN,
                "patient_link_no_documents",
                "a join link does not open an act's request or documents; they are for its professionals, signed in",
            ),
            ApiError::NotTheExpert | ApiError::Session(S::NotTheExpert { .. }) => says(
                StatusCode::FORBIDDEN,
                "not_the_expert",
                "only the act's expert may do this",
            ),
            ApiError::NotTheRequester => says(
                StatusCode::FORBIDDEN,
                "not_the_requester",
                "only the act's requesting professional may record the patient's consent",
            ),
            ApiError::UnknownDocument => says(
                StatusCode::NOT_FOUND,
                "unknown_document",
                "no such document in this act",
            ),
            ApiError::ActEnded(phase) => (
                StatusCode::GONE,
                "act_ended",
                format!("this consultation has ended ({phase})"),
            ),
            ApiError::ActNotConcluded => says(
                StatusCode::CONFLICT,
                "act_not_concluded",
                "this act has no compte rendu yet: it is written at its conclusion",
            ),
            ApiError::SignInOff => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign_in_off",
                "sign-in is not configured on this server",
            ),
            ApiError::NoConnectionTest => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_connection_test",
                "this server runs no connection test; join the call directly",
            ),
            ApiError::ReceiptPending => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "receipt_pending",
                "the witnesses have not yet countersigned this act's record; try again in a moment",
            ),
            ApiError::RoomRestarting => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "room_restarting",
                "the consultation is restarting; try again",
            ),
            ApiError::Busy => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is busy; try again in a moment",
            ),
            ApiError::TimedOut => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                "the server took too long to answer; try again",
            ),
            // Bad input: the domain's sentence says what is wrong.
            ApiError::Session(
                e @ (S::InvalidInput(_)
                | S::Id(_)
                | S::ActKind(_)
                | S::Urgency(_)
                | S::TextEmpty { .. }
                | S::TextTooLong { .. }
                | S::ExpertiseOnlyForTeleexpertise
                | S::Document(
                    DocumentError::NameEmpty
                    | DocumentError::NameTooLong { .. }
                    | DocumentError::NameControl,
                )),
            ) => (StatusCode::BAD_REQUEST, "invalid_input", e.to_string()),
            ApiError::Session(S::Document(DocumentError::TooLarge { max, .. })) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!(
                    "this file is larger than {} MiB, the most one document may weigh",
                    max / (1024 * 1024)
                ),
            ),
            ApiError::Session(e @ (S::ActDocumentsFull { .. } | S::TooManyAttachments(_))) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "act_documents_full",
                e.to_string(),
            ),
            ApiError::Session(e @ S::DuplicateDocument(_)) => {
                (StatusCode::CONFLICT, "duplicate_document", e.to_string())
            }
            ApiError::Session(S::ConsentRequired) => says(
                StatusCode::CONFLICT,
                "consent_required",
                "the patient's consent to the act is not recorded or attested yet; record it first",
            ),
            ApiError::Session(S::UnknownAct(_)) => {
                says(StatusCode::NOT_FOUND, "unknown_act", "no such act")
            }
            ApiError::Session(S::TraceIntegrity(finding)) => {
                // The finding names an act and an event number, no content.
                tracing::error!(%finding, "read refused: the act's trace does not verify");
                says(
                    StatusCode::CONFLICT,
                    "trace_integrity",
                    "this act's record failed its trace integrity check; an operator must run `teleconsult trace verify`",
                )
            }
            // The act's rules refuse this now, or another writer came
            // first: the request conflicts with the act's state. The
            // sentences name phases, roles and ids only.
            ApiError::Session(
                e @ (S::IllegalTransition { .. }
                | S::Conflict { .. }
                | S::ConsentNotAllowed(_)
                | S::NoExpertiseRequest
                | S::ExpertiseAlreadyAccepted
                | S::ExpertiseNotAccepted
                | S::NotAProfessional(_)
                | S::UnknownParticipant(_)
                | S::RoleTaken(_)
                | S::RoomFull(_)
                | S::UnknownIncident(_)
                | S::IncidentAlreadyClosed(_)
                | S::AlreadyAdmitted(_)
                | S::MediaNotAllowed { .. }),
            ) => (StatusCode::CONFLICT, "act_state_conflict", e.to_string()),
            ApiError::Server(Error::ExpiredInvitation(_)) => (
                StatusCode::GONE,
                "invitation_expired",
                self.server_message(),
            ),
            ApiError::Server(Error::MalformedInvitation | Error::ForgedInvitation) => (
                StatusCode::UNAUTHORIZED,
                "invitation_invalid",
                self.server_message(),
            ),
            ApiError::Server(Error::TooManySessions) => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                "too many open sessions; try again later",
            ),
            ApiError::Media(media::Error::BadOffer(m)) => (
                StatusCode::BAD_REQUEST,
                "bad_offer",
                format!("this is not a usable WebRTC offer: {m}"),
            ),
            ApiError::Media(media::Error::ProbeBusy) => says(
                StatusCode::SERVICE_UNAVAILABLE,
                "probe_busy",
                "too many connection tests are running; try again in a minute",
            ),
            ApiError::Session(e) => {
                tracing::error!(error = %e, "request failed");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::Server(e) => {
                tracing::error!(error = %e, "request failed");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::FhirExport(e) => {
                tracing::error!(error = %e, "FHIR export failed");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::Media(e) => {
                tracing::error!(error = %e, "request failed");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::Task(e) => {
                tracing::error!(error = %e, "a request's blocking task failed");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::Layer(e) => {
                tracing::error!(error = %e, "a request failed in a middleware layer");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
            ApiError::NoLinkIssued => {
                tracing::error!("no link issued for a participant the act names");
                says(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_CODE, INTERNAL)
            }
        }
    }

    fn server_message(&self) -> String {
        match self {
            ApiError::Server(e) => e.to_string(),
            _ => INTERNAL.to_string(),
        }
    }
}

/// The `Retry-After` of a pending receipt: a witness round is a few
/// seconds; a witness down is retried with backoff.
const RECEIPT_RETRY_SECS: u64 = 10;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_and_message();
        let mut res = (status, Json(json!({ "error": message, "code": code }))).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests(wait) => Some(wait),
            ApiError::ReceiptPending => Some(RECEIPT_RETRY_SECS),
            _ => None,
        };
        if let Some(wait) = retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session::{ActId, Phase};

    fn status(e: impl Into<ApiError>) -> (StatusCode, String) {
        let (status, _, message) = e.into().status_code_and_message();
        (status, message)
    }

    fn code(e: impl Into<ApiError>) -> &'static str {
        e.into().status_code_and_message().1
    }

    #[test]
    fn each_kind_of_failure_has_its_own_stable_code() {
        let e = || getrandom::Error::UNSUPPORTED;
        let cases: Vec<(ApiError, &str)> = vec![
            (ApiError::LoginLength, "login_length"),
            (ApiError::NotAnActId, "not_an_act_id"),
            (ApiError::OperatorTokenMissing, "operator_token_missing"),
            (ApiError::OperatorTokenInvalid, "operator_token_invalid"),
            (ApiError::SignInRequired, "sign_in_required"),
            (ApiError::SessionEnded, "session_ended"),
            (ApiError::AccountDisabled, "account_disabled"),
            (ApiError::CredentialsInvalid, "credentials_invalid"),
            (ApiError::TooManyRequests(3), "too_many_requests"),
            (ApiError::NotRequester, "not_requester"),
            (ApiError::NotTakingPart, "not_taking_part"),
            (ApiError::NotNamed, "not_named"),
            (ApiError::OperatorCannotRead, "operator_cannot_read"),
            (ApiError::ActEnded(Phase::Closed), "act_ended"),
            (ApiError::ActNotConcluded, "act_not_concluded"),
            (ApiError::SignInOff, "sign_in_off"),
            (ApiError::NoConnectionTest, "no_connection_test"),
            (ApiError::RoomRestarting, "room_restarting"),
            (ApiError::ReceiptPending, "receipt_pending"),
            (ApiError::Busy, "busy"),
            (ApiError::TimedOut, "timed_out"),
            (
                session::Error::InvalidInput("x".into()).into(),
                "invalid_input",
            ),
            (
                session::Error::UnknownAct(ActId::random()).into(),
                "unknown_act",
            ),
            (session::Error::ConsentRequired.into(), "consent_required"),
            (ApiError::NotADigest, "not_a_digest"),
            (ApiError::DocumentNameMissing, "document_name_missing"),
            (
                ApiError::UploadTooLarge { max: 1 << 20 },
                "upload_too_large",
            ),
            (
                session::Error::Document(DocumentError::TooLarge { size: 2, max: 1 }).into(),
                "upload_too_large",
            ),
            (
                session::Error::ActDocumentsFull { total: 2, max: 1 }.into(),
                "act_documents_full",
            ),
            (
                session::Error::TooManyAttachments(200).into(),
                "act_documents_full",
            ),
            (
                ApiError::UnsupportedDocumentType,
                "unsupported_document_type",
            ),
            (
                session::Error::Document(DocumentError::NotADocument).into(),
                "unsupported_document_type",
            ),
            (ApiError::UploadIncomplete, "upload_incomplete"),
            (
                session::Error::DuplicateDocument(session::ids::Sha256::digest(b"x")).into(),
                "duplicate_document",
            ),
            (
                ApiError::PatientLinkNoDocuments,
                "patient_link_no_documents",
            ),
            (ApiError::NotTheExpert, "not_the_expert"),
            (
                session::Error::NotTheExpert { action: "answer" }.into(),
                "not_the_expert",
            ),
            (ApiError::NotTheRequester, "not_the_requester"),
            (ApiError::UnknownDocument, "unknown_document"),
            (ApiError::AttestationTextUnknown, "attestation_text_unknown"),
            (
                session::Error::ExpertiseNotAccepted.into(),
                "act_state_conflict",
            ),
            (
                session::Error::TextEmpty { what: "reason" }.into(),
                "invalid_input",
            ),
            (
                Error::ExpiredInvitation("2026-01-01T00:00:00Z".into()).into(),
                "invitation_expired",
            ),
            (Error::ForgedInvitation.into(), "invitation_invalid"),
            (Error::TooManySessions.into(), "too_many_sessions"),
            (
                media::Error::BadOffer(media::OfferError::TooLarge { max: 10 }).into(),
                "bad_offer",
            ),
            (media::Error::ProbeBusy.into(), "probe_busy"),
            (Error::Randomness(e()).into(), "internal"),
            (ApiError::NoLinkIssued, "internal"),
        ];
        let mut seen = std::collections::HashMap::new();
        for (error, expected) in cases {
            let (status, code, _) = error.status_code_and_message();
            assert_eq!(code, expected, "{error:?}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is not snake_case"
            );
            // One code, one status: a page may rely on either.
            assert_eq!(*seen.entry(code).or_insert(status), status, "{code}");
        }
        assert_eq!(code(Error::MalformedInvitation), "invitation_invalid");
    }

    #[tokio::test]
    async fn the_body_carries_the_code_beside_the_sentence() {
        let res = ApiError::NotAnActId.into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            body,
            json!({"error": "not an act id", "code": "not_an_act_id"})
        );
    }

    #[test]
    fn the_acts_rules_refusing_is_a_conflict() {
        let (s, m) = status(session::Error::IllegalTransition {
            phase: Phase::Closed,
            action: "record a connection test",
        });
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(m.contains("record a connection test"), "{m}");
        let (s, m) = status(session::Error::Conflict {
            expected: 3,
            found: 4,
        });
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(m.contains("reload"), "{m}");
        assert_eq!(
            status(session::Error::ConsentRequired).0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(session::Error::DuplicateDocument(
                session::ids::Sha256::digest(b"x")
            ))
            .0,
            StatusCode::CONFLICT
        );
    }

    #[test]
    fn bad_input_is_400_with_its_sentence() {
        let e = "12".parse::<session::Rpps>().expect_err("too short");
        let (s, m) = status(session::Error::from(e));
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(m.starts_with("invalid RPPS number: "), "{m}");
        let (s, m) = status(ApiError::NotAnActId);
        assert_eq!((s, m.as_str()), (StatusCode::BAD_REQUEST, "not an act id"));
        let (s, m) = status(media::Error::BadOffer(media::OfferError::TooLarge {
            max: 10,
        }));
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(m.contains("larger than 10 bytes"), "{m}");
    }

    #[test]
    fn only_a_full_session_table_is_503() {
        let (s, m) = status(Error::TooManySessions);
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(m, "too many open sessions; try again later");
        // Any other failure to open a session is the server's own.
        let e = getrandom::Error::UNSUPPORTED;
        let (s, m) = status(Error::Randomness(e));
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(m, INTERNAL);
    }

    #[test]
    fn internals_stay_in_the_log() {
        let e = session::Error::Database {
            path: "/srv/secret/trace.db".into(),
            reason: "disk I/O error".into(),
        };
        let (s, m) = status(e);
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!m.contains("secret") && !m.contains("disk"), "{m}");
        let e = Error::file(
            "read",
            "/srv/keys/invite.key",
            std::io::Error::other("denied"),
        );
        let (_, m) = status(e);
        assert!(!m.contains("invite.key"), "{m}");
    }

    #[test]
    fn invitations_and_acts() {
        assert_eq!(
            status(Error::ExpiredInvitation("2026-01-01T00:00:00Z".into())).0,
            StatusCode::GONE
        );
        let (s, m) = status(Error::ForgedInvitation);
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(m, Error::ForgedInvitation.to_string());
        assert_eq!(
            status(session::Error::UnknownAct(ActId::random())),
            (StatusCode::NOT_FOUND, "no such act".to_string())
        );
        let (s, m) = status(ApiError::ActEnded(Phase::Closed));
        assert_eq!(s, StatusCode::GONE);
        assert!(m.contains("has ended"), "{m}");
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let res = ApiError::TooManyRequests(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
    }
}
