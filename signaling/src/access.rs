//! Who may do what with an act's trace: the policy, and the sign-in
//! machinery it runs on ([`Security`]). The routes that apply it are in
//! `api` (`api::trace`).
//!
//! | who | create an act | list acts | read / export a trace |
//! |---|---|---|---|
//! | nobody (no credential) | 401 | 401 | 401 |
//! | a patient's join link | 401 | 401 | 401 |
//! | operator token (scripts) | yes | 403 | 403 |
//! | professional | as the requester only | theirs | theirs, else 403 |
//! | administrator | yes | all | all |
//!
//! A téléexpertise's request and documents (`api::expertise`,
//! `api::documents`) follow the same rule for reading (the act's
//! professionals and administrators; a join link gets 403
//! `patient_link_no_documents`), and a stricter one for changing them:
//! only the act's expert answers, reviews and reports, only its requester
//! records consent, either of them attaches documents; an administrator
//! reads but never writes.
//!
//! "Take part" means the act names the professional's RPPS number as its
//! requester or expert. Creating an act answers every join link to the
//! operator token, but to a signed-in person only the patient's (and a
//! companion's) and their own: another professional named on the act
//! fetches their own link, signed in, with `GET /api/acts/{id}/link`. Every list, read and export by a signed-in person,
//! allowed or refused, is written to the access log before any data leaves.

use std::sync::Arc;

use session::Act;
use session::ParticipantId;
use session::access::{AccessStore, AccountRole};
use session::act::NewAct;
use session::keys::{DataKey, TrustedKeys};
use session::participant::{Identity, Role};

use crate::auth::oidc::OidcSignIn;
use crate::auth::sessions::{LoginLimiter, Sessions};
use crate::auth::{Authenticated, IdentityProvider};

/// What sign-in and the access policy need, set once at start
/// (`AppState::secure`).
#[derive(Debug)]
pub struct Security {
    pub access: Arc<AccessStore>,
    pub provider: Arc<dyn IdentityProvider>,
    /// Sign-in over OpenID Connect, when the settings have an `[oidc]`
    /// table (see [`Security::with_oidc`]).
    pub oidc: Option<Arc<OidcSignIn>>,
    pub sessions: Sessions,
    pub limiter: LoginLimiter,
    /// The data key first, then retired ones: opens traces of any age.
    pub data_keys: Vec<DataKey>,
    /// The signing keys checkpoints may name, for export verification.
    pub trusted: TrustedKeys,
}

impl Security {
    pub fn new(
        access: Arc<AccessStore>,
        provider: Arc<dyn IdentityProvider>,
        data_keys: Vec<DataKey>,
        trusted: TrustedKeys,
    ) -> Security {
        Security {
            access,
            provider,
            oidc: None,
            sessions: Sessions::default(),
            limiter: LoginLimiter::default(),
            data_keys,
            trusted,
        }
    }
}

impl Security {
    /// Adds sign-in over OpenID Connect beside the local accounts.
    pub fn with_oidc(mut self, oidc: Arc<OidcSignIn>) -> Security {
        self.oidc = Some(oidc);
        self
    }
}

/// Who is behind a request that may create acts.
#[derive(Debug)]
pub enum Creator {
    /// The operator API token (scripts, the load harness).
    Operator,
    Signed(Authenticated),
}

/// The audit actor naming `who`: an account number, never a name.
pub fn actor(who: &Authenticated) -> String {
    format!("account:{}", who.account)
}

/// Whether `who` takes part in `act` as a professional.
pub fn takes_part(who: &Authenticated, act: &Act) -> bool {
    act.participants
        .iter()
        .any(|p| p.role.is_professional() && is_me(who, &p.identity))
}

/// The participant `who` is in `act` in `role` (a professional role: the
/// act names their RPPS number there).
pub fn as_role(who: &Authenticated, act: &Act, role: Role) -> Option<ParticipantId> {
    act.participants
        .iter()
        .find(|p| p.role == role && is_me(who, &p.identity))
        .map(|p| p.id)
}

/// The professional role `who` has in `act` (requester first, should one
/// RPPS number be both), if any.
pub fn my_role(who: &Authenticated, act: &Act) -> Option<Role> {
    [Role::Requester, Role::Expert]
        .into_iter()
        .find(|r| as_role(who, act, *r).is_some())
}

/// Whether `who` may read and export `act`'s trace.
pub fn may_read(who: &Authenticated, act: &Act) -> bool {
    who.role == AccountRole::Administrator || takes_part(who, act)
}

/// Whether `identity` is the professional `who` is signed in as (same
/// RPPS number).
pub fn is_me(who: &Authenticated, identity: &Identity) -> bool {
    let Some(mine) = &who.rpps else {
        return false;
    };
    matches!(identity, Identity::Professional { rpps, .. } if rpps.expose() == mine.expose())
}

/// Whether `who` may create `new`: an administrator always (and gets no
/// professional's link, see [`creator_gets_link`]), a professional only as
/// its requesting professional: naming someone else there would hand them
/// that colleague's link, and let them act in the colleague's name.
pub fn may_create(who: &Authenticated, new: &NewAct) -> bool {
    who.role == AccountRole::Administrator || is_me(who, &new.requester)
}

/// Whether the creator of an act gets `p`'s join link in the answer: the
/// operator token gets every link (scripts hand them out), a signed-in
/// person the patient's and companion's and their own only. The other
/// professionals fetch theirs with `GET /api/acts/{id}/link`.
pub fn creator_gets_link(creator: &Creator, p: &session::participant::Participant) -> bool {
    match creator {
        Creator::Operator => true,
        Creator::Signed(who) => !p.role.is_professional() || is_me(who, &p.identity),
    }
}

/// The audit actor of a creator: the operator token is audited as
/// `operator`.
pub fn creator_actor(creator: &Creator) -> String {
    match creator {
        Creator::Operator => "operator".into(),
        Creator::Signed(who) => actor(who),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session::act::NewAct;
    use session::{ActId, ActKind, Pii, Timestamp};

    fn who(role: AccountRole, rpps: Option<&str>) -> Authenticated {
        Authenticated {
            account: 1,
            login: "x".into(),
            role,
            name: None,
            rpps: rpps.map(|r| Pii::new(r.parse().unwrap())),
            provider: "local",
        }
    }

    fn act() -> (NewAct, Act) {
        let new = NewAct {
            kind: ActKind::Teleconsultation,
            requester: crate::api::professional("Dr A", "10000000009").unwrap(),
            expert: None,
            patient: Identity::Patient {
                alias: Pii::new(session::PatientAlias::random()),
            },
            patient_present: true,
            expertise: None,
        };
        let (act, _) = Act::open(ActId::random(), new.clone(), Timestamp::from_micros(1)).unwrap();
        (new, act)
    }

    #[test]
    fn policy_by_role() {
        let (new, act) = act();
        let mine = who(AccountRole::Professional, Some("10000000009"));
        let other = who(AccountRole::Professional, Some("10101010105"));
        let admin = who(AccountRole::Administrator, None);
        assert!(may_read(&mine, &act) && may_create(&mine, &new));
        assert!(!may_read(&other, &act) && !may_create(&other, &new));
        // Named as the expert is taking part, but not creating.
        let mut as_expert = new.clone();
        as_expert.kind = ActKind::Teleexpertise;
        as_expert.expert = Some(crate::api::professional("Dr B", "10101010105").unwrap());
        assert!(!may_create(&other, &as_expert));
        assert!(may_read(&admin, &act) && may_create(&admin, &new));
        assert!(!takes_part(&admin, &act));
    }
}
