//! Media for teleconsult: the TURN relay (UDP, TCP, TLS) and the peer
//! connection code built on the `webrtc` crate.
//!
//! Not built yet: the live-session work (issue "Live consultation in the
//! browser") fills this crate. It is in the workspace now so that the
//! layout is final.
