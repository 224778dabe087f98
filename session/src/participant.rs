//! Who takes part in an act, and in which role.

use serde::{Deserialize, Serialize};

use crate::ids::{ParticipantId, PatientAlias, Rpps};
use crate::pii::Pii;
pub use crate::vocab::Role;

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
