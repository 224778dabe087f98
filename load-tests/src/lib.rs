//! The load-testing harness, `teleconsult-load`.
//!
//! Not built yet: it needs the live session (see the issue "Load-testing
//! harness with real encoded media"). It is in the workspace now so that
//! the layout is final.
