//! The library's one error type.

/// What can go wrong at the server's edge. Messages are sentences safe to
/// show a user: they never carry a token, a key or personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this link is not a valid invitation")]
    MalformedInvitation,
    #[error("this link was not issued by this server, or was altered")]
    ForgedInvitation,
    #[error("this link expired at {0}; ask for a new one")]
    ExpiredInvitation(String),
    #[error("{0}")]
    Key(String),
    #[error("settings: {0}")]
    Config(String),
}
