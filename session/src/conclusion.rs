//! The conclusion of an act: the report and what was prescribed
//! (art. R.6316-4, 1° and 2°). Medical content, sealed at rest.

use serde::{Deserialize, Serialize};

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

/// The report and prescriptions, written when the act ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conclusion {
    pub report: Pii<String>,
    pub prescriptions: Vec<Prescription>,
}

impl Conclusion {
    /// Longest report accepted, in bytes.
    pub const MAX_REPORT_LEN: usize = 64 * 1024;
}
