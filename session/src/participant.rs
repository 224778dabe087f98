//! Who takes part in an act, and in which role.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ParticipantId, PatientAlias, Rpps};
use crate::pii::Pii;

/// The roles of decree 2010-1229: the patient, the professional who asks
/// (requérant), the one who is asked (requis), and a third party who helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    /// The requesting professional (requérant). In a téléconsultation this is
    /// the doctor who consults.
    Requester,
    /// The expert asked for an opinion in a téléexpertise (requis).
    Expert,
    /// A companion, carer or interpreter at the patient's side.
    Companion,
}

impl Role {
    pub fn is_professional(self) -> bool {
        matches!(self, Role::Requester | Role::Expert)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Requester => "requester",
            Role::Expert => "expert",
            Role::Companion => "companion",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a participant is. Every field is personal data, so each is sealed at
/// rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Identity {
    /// A health professional, identified by name and RPPS number.
    Professional { name: Pii<String>, rpps: Pii<Rpps> },
    /// The patient, known only by a pseudonymous alias.
    Patient { alias: Pii<PatientAlias> },
    /// A companion or interpreter, by the name they gave.
    Companion { name: Pii<String> },
}

/// A participant as the act knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub role: Role,
    pub identity: Identity,
}
