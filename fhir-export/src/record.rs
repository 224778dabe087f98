//! One trace record as the export reads it: its place in the chain and
//! its event's JSON, opened (personal and medical values in clear) or in
//! its public view (those values as `"[sealed]"`).

use serde_json::Value;
use session::keys::DataKey;
use session::trace::TraceRecord;
use session::trace::seal::strip_markers;
use session::{ActId, Timestamp};

use crate::Error;

/// The value a withheld (sealed) field has in a record's public view.
pub const SEALED: &str = "[sealed]";

/// One verified trace record, ready for the export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRecord {
    pub act: ActId,
    /// Position in the act's chain, from 1.
    pub seq: u64,
    pub at: Timestamp,
    /// The event's kind, e.g. `consent_given`.
    pub kind: String,
    /// The record's hash in the chain, hex.
    pub hash: String,
    /// The event's JSON (its `type` tag included).
    pub event: Value,
}

impl ExportRecord {
    /// The record opened with the data keys: every value in clear.
    pub fn opened(r: &TraceRecord, keys: &[DataKey]) -> Result<ExportRecord, Error> {
        let mut event = serde_json::to_value(r.open(keys)?.body)?;
        strip_markers(&mut event);
        Ok(ExportRecord::with_event(r, event))
    }

    /// The record's public view: what an auditor without the data key
    /// reads, sealed values as `"[sealed]"`.
    pub fn public(r: &TraceRecord) -> Result<ExportRecord, Error> {
        Ok(ExportRecord::with_event(r, r.public_view()?))
    }

    fn with_event(r: &TraceRecord, event: Value) -> ExportRecord {
        ExportRecord {
            act: r.act,
            seq: r.seq,
            at: r.at,
            kind: r.kind.clone(),
            hash: hex::encode(r.hash),
            event,
        }
    }

    /// Every record of a trace, opened when `keys` is given and the
    /// reader may see sealed values (`withheld` false), else public.
    pub fn all(
        records: &[TraceRecord],
        keys: &[DataKey],
        withheld: bool,
    ) -> Result<Vec<ExportRecord>, Error> {
        records
            .iter()
            .map(|r| {
                if withheld || keys.is_empty() {
                    ExportRecord::public(r)
                } else {
                    ExportRecord::opened(r, keys)
                }
            })
            .collect()
    }
}
