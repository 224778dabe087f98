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
pub use relay::stream::{Frame, FrameError};
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
    /// A relay configuration that cannot work.
    #[error("invalid relay configuration: {0}")]
    InvalidConfig(String),
    /// Reading the TLS certificate or key.
    #[error("cannot load {what} from {path}: {reason}")]
    Pem {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The PEM file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
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
    Turn(#[from] turn::Error),
    /// A pre-call test offer that cannot be answered.
    #[error("unusable connection test offer: {0}")]
    BadOffer(String),
    /// Too many pre-call tests run at once.
    #[error("too many connection tests are running; try again in a minute")]
    ProbeBusy,
    /// The pre-call test peer itself.
    #[error("connection test peer: {0}")]
    Probe(String),
    /// A malformed frame on a TCP or TLS stream.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
