//! Everything that can go wrong in the load harness library, one variant
//! per cause; the binary (`teleconsult-load`) and the tests report it
//! through `anyhow`.

use std::path::PathBuf;
use std::process::ExitStatus;

use crate::packetize::PayloadError;

/// The harness library's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket, file or process operation.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A socket, file or process operation, with what it was for.
    #[error("{context}")]
    IoAt {
        /// What was being done, and on what.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// JSON that does not encode or decode.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// JSON that does not decode, with where it was read from.
    #[error("{context}")]
    JsonAt {
        /// What was being parsed.
        context: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A task of the harness panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),

    /// The clip cache file cannot be trusted (it is encoded again).
    #[error("{}: {problem}", path.display())]
    ClipCache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        problem: ClipCacheProblem,
    },
    /// A clip spec that cannot be encoded.
    #[error("{0}")]
    BadSpec(&'static str),
    /// rav1e refused its configuration.
    #[error("rav1e configuration: {0}")]
    EncoderConfig(#[source] rav1e::config::InvalidConfig),
    /// rav1e failed while encoding.
    #[error("rav1e: {0:?}")]
    Encoder(#[source] rav1e::EncoderStatus),
    /// rav1e refused a frame.
    #[error("rav1e send_frame: {0:?}")]
    EncoderSend(#[source] rav1e::EncoderStatus),
    /// rav1e gave another number of frames than it was given.
    #[error("rav1e gave {got} frames for {sent}")]
    EncoderFrames {
        /// Frames out.
        got: usize,
        /// Frames in.
        sent: u32,
    },
    /// libopus, with what it was doing.
    #[error("{context}")]
    Opus {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: opus::Error,
    },
    /// rav1e's output cannot be cut into RTP payloads.
    #[error("packetizing rav1e's output")]
    Packetize(#[source] PayloadError),
    /// Drawing a chart (SVG).
    #[error(transparent)]
    Chart(#[from] plotters::drawing::DrawingAreaErrorKind<std::io::Error>),

    /// The WebRTC stack of a participant.
    #[error(transparent)]
    WebRtc(#[from] webrtc::error::Error),
    /// The signaling WebSocket cannot be opened.
    #[error("cannot connect to {url}")]
    SignalingConnect {
        /// The WebSocket URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The signaling WebSocket broke.
    #[error(transparent)]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),

    /// An HTTP exchange with the server under test.
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// An HTTP request that cannot be built.
    #[error(transparent)]
    HttpRequest(#[from] hyper::http::Error),
    /// A server URL that is not `http://…`.
    #[error("the harness speaks plain HTTP to loopback servers (http://...)")]
    NotPlainHttp,
    /// A `GET` the server refused.
    #[error("GET {path}: {status}")]
    HttpStatus {
        /// The path asked for.
        path: String,
        /// The status answered.
        status: u16,
    },
    /// `POST /api/acts` refused.
    #[error("POST /api/acts answered {status}: {body}")]
    ActRefused {
        /// The status answered.
        status: u16,
        /// The body answered (the server's reason).
        body: String,
    },
    /// The created act's answer lacks the join link of a role.
    #[error("no {0} link")]
    NoLink(&'static str),
    /// A join link without its token (after `#`).
    #[error("a link without a token")]
    LinkWithoutToken,
    /// The spawned server exited before answering.
    #[error("the server exited at start: {0}")]
    ServerExited(ExitStatus),
    /// The spawned server did not answer in time.
    #[error("the server did not answer /healthz within 10 s")]
    ServerSilent,
    /// A load step was given no server to load.
    #[error("no server to load: give at least one --url")]
    NoTarget,

    /// Building or reading a STUN message.
    #[error(transparent)]
    Stun(#[from] stun::Error),
    /// An attribute missing from a TURN answer.
    #[error("{what}")]
    TurnAnswer {
        /// Which attribute is missing, in which answer.
        what: &'static str,
        /// The cause.
        #[source]
        source: stun::Error,
    },
    /// The TURN server did not answer.
    #[error("no answer from the TURN server")]
    TurnNoAnswer,
    /// The TURN server allocated for an unauthenticated request.
    #[error("the TURN server allocated without authentication")]
    TurnUnauthenticated,
    /// The TURN server refused a request.
    #[error("{what} refused: {reason}")]
    TurnRefused {
        /// The request.
        what: &'static str,
        /// The ERROR-CODE answered, as the server spelled it.
        reason: String,
    },
    /// The TURN server refused an Allocate before its authentication
    /// challenge (a quota, no capacity).
    #[error("Allocate refused before authentication: {reason}")]
    TurnRefusedUnauthenticated {
        /// The ERROR-CODE answered, as the server spelled it.
        reason: String,
    },
    /// The relay's credentials.
    #[error(transparent)]
    Media(#[from] media::Error),
}

/// Why a clip cache file cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum ClipCacheProblem {
    /// Another file layout.
    #[error("format {found} (this build reads {reads})")]
    Format {
        /// The file's.
        found: u32,
        /// This build's.
        reads: u32,
    },
    /// Another key or spec.
    #[error("written for another clip")]
    OtherClip,
    /// The content checksum does not match.
    #[error("content checksum mismatch (damaged file)")]
    Checksum,
    /// The clip does not fit its spec.
    #[error("the clip does not fit its spec")]
    Misfit,
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

impl Error {
    pub(crate) fn io_at(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::IoAt {
            context: context.into(),
            source,
        }
    }
}

/// The harness library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
