//! The conclusion of an act: the report and what was prescribed
//! (art. R.6316-4, 1° and 2°), and who wrote them. The report and
//! prescriptions are medical content, sealed at rest; the author is a
//! participant number, public like every other `by`.

use serde::{Deserialize, Serialize};

use crate::ids::ParticipantId;
use crate::pii::Pii;

/// The kinds of prescription an act can lead to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrescriptionKind {
    Medication,
    Examination,
    Other,
}

/// One prescription made during the act.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescription {
    pub kind: PrescriptionKind,
    pub text: Pii<String>,
}

/// The report and prescriptions, written when the act ends, and by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conclusion {
    pub report: Pii<String>,
    pub prescriptions: Vec<Prescription>,
    /// The professional of the act who concluded it. `None` only in
    /// traces written before the author was recorded: their `concluded`
    /// events have no `by` field, and an absent author is not written
    /// either, so their stored bytes (and hashes) read back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<ParticipantId>,
}

impl Conclusion {
    /// Longest report accepted, in bytes.
    pub const MAX_REPORT_LEN: usize = 64 * 1024;
}
