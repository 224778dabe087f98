//! Media for teleconsult: the TURN relay (UDP, TCP, TLS) and the pre-call
//! test peer ([`probe`]), built on the `webrtc` crate.
//!
//! The relay is the `turn` 0.17 server with what it lacks for our use
//! wrapped around it: TURN REST API credentials tied to an act and a
//! participant, with revocation ([`relay::credentials`]); TCP and TLS
//! listeners ([`relay::stream`]); allocation quotas, a peer address policy
//! and counters ([`relay::RelayStats`], and per participant
//! [`relay::TrafficSnapshot`]).

pub mod probe;
pub mod relay;

use std::path::PathBuf;

pub use probe::{Probe, ProbeConfig, ProbePeers};
pub use relay::credentials::{Credentials, TurnCredentials, TurnUsername};
pub use relay::framing::{Frame, FrameError};
pub use relay::{
    IpRange, PeerPolicy, Relay, RelayConfig, RelayStats, StatsSnapshot, TlsConfig, TrafficSnapshot,
};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A TURN username that is not `EXPIRY_UNIX:ACT_ID:PARTICIPANT`.
    #[error("malformed TURN username: {0}")]
    MalformedUsername(&'static str),
    /// An act or participant id that cannot go into a TURN username.
    #[error("invalid {what} for a TURN username: {reason}")]
    InvalidIdentifier {
        /// `"act id"` or `"participant id"`.
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The credential's expiry time has passed.
    #[error("TURN credential expired at {expired_at} (unix seconds)")]
    CredentialExpired {
        /// The expiry written in the username.
        expired_at: u64,
    },
    /// The participant's credentials were revoked.
    #[error("TURN credentials revoked for participant {participant} of act {act}")]
    CredentialRevoked {
        /// The act id.
        act: String,
        /// The participant id.
        participant: String,
    },
    /// The password does not match the username.
    #[error("wrong TURN password")]
    WrongPassword,
    /// The shared secret is empty.
    #[error("the TURN shared secret must not be empty")]
    EmptySecret,
    /// A relay configuration that cannot work: what is wrong with it.
    #[error("invalid relay configuration: {0}")]
    InvalidConfig(&'static str),
    /// A peer range of the relay configuration that does not parse.
    #[error(
        "invalid relay configuration: peer range {range:?}: {reason} \
         (expected ADDRESS/PREFIX, e.g. 127.0.0.0/8)"
    )]
    PeerRange {
        /// The range as written.
        range: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading the TLS certificate or key.
    #[error("cannot load {what} from {path}: {source}")]
    Pem {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The PEM file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: PemError,
    },
    /// rustls refused the certificate and key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A socket operation.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The `turn` server itself.
    #[error("TURN server: {0}")]
    Turn(#[from] relay::TurnError),
    /// A pre-call test offer that cannot be answered.
    #[error("unusable connection test offer: {0}")]
    BadOffer(#[source] OfferError),
    /// Too many pre-call tests run at once.
    #[error("too many connection tests are running; try again in a minute")]
    ProbeBusy,
    /// The pre-call test peer itself: what it was doing, and the cause.
    #[error("connection test peer: {context}: {source}")]
    Probe {
        /// What the peer was doing.
        context: &'static str,
        /// The cause.
        #[source]
        source: webrtc::error::Error,
    },
    /// The pre-call test peer produced no answer.
    #[error("connection test peer: the test peer has no answer")]
    ProbeNoAnswer,
    /// A malformed frame on a TCP or TLS stream.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Why a PEM file gave no certificate or key.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// The file cannot be read, or holds no usable PEM block.
    #[error(transparent)]
    Read(#[from] rustls::pki_types::pem::Error),
    /// The file holds no certificate.
    #[error("no CERTIFICATE block")]
    NoCertificate,
}

/// Why a pre-call test offer cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The offer is over the size limit.
    #[error("the offer is larger than {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// The WebRTC stack refused it.
    #[error(transparent)]
    WebRtc(#[from] webrtc::error::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
