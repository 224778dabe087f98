//! The crate's one error type.

/// Why a compte rendu could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The act has no conclusion yet (or was cancelled): there is no
    /// report to render.
    #[error("the act is not concluded: it has no report yet")]
    NotConcluded,
    /// One of the embedded fonts could not be read (a broken build).
    #[error("the embedded font {0} cannot be read")]
    Font(&'static str),
    /// The PDF writer refused the document.
    #[error("cannot write the PDF: {0}")]
    Pdf(krilla::error::KrillaError),
}
