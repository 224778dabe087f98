//! The log filter every entry point uses. Our own code never logs
//! payloads or personal data; some dependencies do at TRACE level (the
//! WebSocket library prints whole frames, with names in them), so their
//! targets are capped whatever the requested level: the logs may be
//! verbose, never identifying.

use tracing_subscriber::EnvFilter;

/// Dependencies that log payloads or headers below INFO.
pub const CAPPED: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "axum::rejection",
];

/// `RUST_LOG` if set, else `default`, with [`CAPPED`] targets held at INFO.
pub fn filter(default: &str) -> EnvFilter {
    let mut f = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for target in CAPPED {
        if let Ok(d) = format!("{target}=info").parse() {
            f = f.add_directive(d);
        }
    }
    f
}
