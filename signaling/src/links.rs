//! Join links: one per participant, each carrying its invitation token in
//! the URL fragment (`#...`), which browsers never send to a server, so the
//! token stays out of request logs and `Referer` headers.

use std::collections::BTreeMap;
use std::time::Duration;

use session::participant::Participant;
use session::{Act, Timestamp};

use crate::invitation::{Invitation, InvitationKeys};

/// How long a link works by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// Maps each role (`patient`, `professional`, `expert`, `companion`) to
/// its join URL under `base` (e.g. `https://127.0.0.1:8443`).
pub fn links_for(
    act: &Act,
    base: &str,
    keys: &InvitationKeys,
    now: Timestamp,
    ttl: Duration,
) -> BTreeMap<String, String> {
    links_where(act, base, keys, now, ttl, |_| true)
}

/// Like [`links_for`], for only the participants `keep` accepts: a
/// signed-in professional gets their own link and the patient's, never a
/// colleague's (who would then act in their name).
pub fn links_where(
    act: &Act,
    base: &str,
    keys: &InvitationKeys,
    now: Timestamp,
    ttl: Duration,
    keep: impl Fn(&Participant) -> bool,
) -> BTreeMap<String, String> {
    let base = base.trim_end_matches('/');
    act.participants
        .iter()
        .filter(|p| keep(p))
        .map(|p| {
            let token = keys.issue(&Invitation {
                act: act.id,
                participant: p.id,
                role: p.role,
                expires_at: now.plus(ttl),
            });
            (
                link_name(p.role).to_string(),
                format!("{base}/join#{token}"),
            )
        })
        .collect()
}

/// The name scripts know a role's link by.
pub fn link_name(role: session::participant::Role) -> &'static str {
    use session::participant::Role;
    match role {
        Role::Patient => "patient",
        Role::Requester => "professional",
        Role::Expert => "expert",
        Role::Companion => "companion",
    }
}
