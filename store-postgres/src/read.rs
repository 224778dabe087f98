//! Reading the trace back: an act's records in seq order, the newest
//! checkpoint naming it, the whole store as of one snapshot, documents.

use std::collections::BTreeMap;

use deadpool_postgres::{Object, Pool, Transaction};
use session::document::DocumentType;
use session::ids::{ActId, Sha256};
use session::keys::KeyId;
use session::store::{DocumentInfo, Snapshot, StoredDocument, Walk};
use session::timestamp::Timestamp;
use session::tlog::{SignedCheckpoint, TreeHash};
use session::trace::{Checkpoint, Hash, TraceRecord, decode_heads};
use tokio_postgres::GenericClient;
use tokio_postgres::Row;

use crate::server::Server;

/// The `events` columns a [`TraceRecord`] is read from, in order.
const RECORD_COLUMNS: &str = "act, seq, at, kind, public, sealed, prev_hash, hash";
/// The `checkpoints` columns a [`Checkpoint`] is read from, in order.
const CHECKPOINT_COLUMNS: &str = "no, at, prev, heads, key_id, signature";
/// Checkpoints read per round trip when scanning back for an act's newest.
const SCAN_PAGE: i64 = 256;

/// A read-only transaction that sees one commit throughout.
pub async fn snapshot_tx(client: &mut Object) -> Result<Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

fn to_hash(bytes: &[u8]) -> Hash {
    // A wrong length is itself tampering; verification reports it.
    bytes.try_into().unwrap_or([0; 32])
}

fn act_of(bytes: &[u8]) -> Option<ActId> {
    <[u8; 16]>::try_from(bytes).ok().map(ActId::from_bytes)
}

pub(crate) fn record_row(r: &Row) -> Option<TraceRecord> {
    Some(TraceRecord {
        act: act_of(r.get(0))?,
        seq: r.get::<_, i64>(1) as u64,
        at: Timestamp::from_micros(r.get(2)),
        kind: r.get(3),
        public: r.get(4),
        sealed: r.get(5),
        prev_hash: to_hash(r.get(6)),
        hash: to_hash(r.get(7)),
    })
}

pub(crate) fn checkpoint_row(r: &Row) -> Checkpoint {
    let key_id: &[u8] = r.get(4);
    let sig: &[u8] = r.get(5);
    Checkpoint {
        no: r.get::<_, i64>(0) as u64,
        at: Timestamp::from_micros(r.get(1)),
        prev: to_hash(r.get(2)),
        // Malformed heads verify as an empty list, whose signature fails.
        heads: decode_heads(r.get(3)).unwrap_or_default(),
        key_id: KeyId(key_id.try_into().unwrap_or([0; 8])),
        signature: sig.try_into().unwrap_or([0; 64]),
    }
}

/// Every checkpoint, in order.
pub async fn checkpoints<C: GenericClient>(
    c: &C,
) -> Result<Vec<Checkpoint>, tokio_postgres::Error> {
    Ok(c.query(
        &format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY no"),
        &[],
    )
    .await?
    .iter()
    .map(checkpoint_row)
    .collect())
}

/// The act's records in seq order (what readers walk: in this store the
/// unique `(act, seq)` is the link).
async fn act_records<C: GenericClient>(
    c: &C,
    act: ActId,
) -> Result<Vec<TraceRecord>, tokio_postgres::Error> {
    Ok(c.query(
        &format!("SELECT {RECORD_COLUMNS} FROM events WHERE act = $1 ORDER BY seq"),
        &[&act.as_bytes().as_slice()],
    )
    .await?
    .iter()
    .filter_map(record_row)
    .collect())
}

pub async fn records(
    pool: &Pool,
    server: &Server,
    act: ActId,
) -> Result<Vec<TraceRecord>, session::Error> {
    let client = pool.get().await.map_err(|e| server.pool(e))?;
    Ok(act_records(&**client, act)
        .await
        .map_err(|e| server.query(e))?)
}

pub async fn walk(pool: &Pool, server: &Server, act: ActId) -> Result<Walk, session::Error> {
    let q = |e| server.query(e);
    let mut client = pool.get().await.map_err(|e| server.pool(e))?;
    let tx = snapshot_tx(&mut client).await.map_err(q)?;
    let records = act_records(&*tx, act).await.map_err(q)?;
    if records.is_empty() {
        // Not in the store: no scan of every checkpoint for an id nobody
        // wrote (`trace verify` reports a deleted act).
        return Ok(Walk::default());
    }
    // The newest checkpoint naming the act, scanning back, and the first
    // hole met in the numbering on the way.
    let mut gap = None;
    let mut above: Option<u64> = None;
    let mut signed = None;
    let mut before = i64::MAX;
    'scan: loop {
        let rows = tx
            .query(
                &format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE no < $1 ORDER BY no DESC LIMIT {SCAN_PAGE}"
                ),
                &[&before],
            )
            .await
            .map_err(q)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let no = r.get::<_, i64>(0);
            before = no;
            let no = no as u64;
            if let Some(above) = above
                && no + 1 != above
                && gap.is_none()
            {
                gap = Some((no + 1, above));
            }
            above = Some(no);
            let heads = decode_heads(r.get(3)).unwrap_or_default();
            if heads.iter().any(|h| h.act == act) {
                signed = Some(checkpoint_row(r));
                break 'scan;
            }
        }
    }
    tx.commit().await.map_err(q)?;
    Ok(Walk {
        records,
        signed,
        gap,
    })
}

pub async fn snapshot(
    pool: &Pool,
    server: &Server,
    only: Option<ActId>,
) -> Result<Snapshot, session::Error> {
    let q = |e| server.query(e);
    let mut client = pool.get().await.map_err(|e| server.pool(e))?;
    let tx = snapshot_tx(&mut client).await.map_err(q)?;
    let checkpoints = checkpoints(&*tx).await.map_err(q)?;
    let rows = match only {
        Some(act) => act_records(&*tx, act).await.map_err(q)?,
        None => tx
            .query(
                &format!("SELECT {RECORD_COLUMNS} FROM events ORDER BY act, seq"),
                &[],
            )
            .await
            .map_err(q)?
            .iter()
            .filter_map(record_row)
            .collect(),
    };
    tx.commit().await.map_err(q)?;
    let mut records: BTreeMap<ActId, Vec<TraceRecord>> = BTreeMap::new();
    for r in rows {
        records.entry(r.act).or_default().push(r);
    }
    // Readers walk each act in seq order, which is how `records` holds it.
    let links = records
        .iter()
        .map(|(act, rs)| (*act, (0..rs.len()).collect()))
        .collect();
    Ok(Snapshot {
        checkpoints,
        records,
        links,
    })
}

pub async fn act_ids(pool: &Pool, server: &Server) -> Result<Vec<ActId>, session::Error> {
    let client = pool.get().await.map_err(|e| server.pool(e))?;
    let rows = client
        .query("SELECT DISTINCT act FROM events", &[])
        .await
        .map_err(|e| server.query(e))?;
    let mut ids: Vec<ActId> = rows.iter().filter_map(|r| act_of(r.get(0))).collect();
    ids.sort();
    Ok(ids)
}

fn media_type(server: &Server, stored: &str) -> Result<DocumentType, session::Error> {
    DocumentType::from_media_type(stored).ok_or_else(|| {
        server
            .not_a_trace("a document has an unknown media type")
            .into()
    })
}

pub async fn document(
    pool: &Pool,
    server: &Server,
    act: ActId,
    sha256: Sha256,
) -> Result<Option<StoredDocument>, session::Error> {
    let client = pool.get().await.map_err(|e| server.pool(e))?;
    let row = client
        .query_opt(
            "SELECT media_type, size, sealed_name, sealed FROM documents WHERE act = $1 AND sha256 = $2",
            &[&act.as_bytes().as_slice(), &sha256.as_bytes().as_slice()],
        )
        .await
        .map_err(|e| server.query(e))?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(StoredDocument {
        act,
        sha256,
        media_type: media_type(server, r.get(0))?,
        size: r.get::<_, i64>(1) as u64,
        sealed_name: r.get(2),
        sealed: r.get(3),
    }))
}

pub async fn documents(
    pool: &Pool,
    server: &Server,
    act: ActId,
) -> Result<Vec<DocumentInfo>, session::Error> {
    let client = pool.get().await.map_err(|e| server.pool(e))?;
    let rows = client
        .query(
            "SELECT sha256, media_type, size FROM documents WHERE act = $1 ORDER BY no",
            &[&act.as_bytes().as_slice()],
        )
        .await
        .map_err(|e| server.query(e))?;
    rows.iter()
        .map(|r| {
            let sha: &[u8] = r.get(0);
            let sha: [u8; 32] = sha
                .try_into()
                .map_err(|_| server.not_a_trace("a document has a malformed digest"))?;
            Ok(DocumentInfo {
                sha256: Sha256::from_bytes(sha),
                media_type: media_type(server, r.get(1))?,
                size: r.get::<_, i64>(2) as u64,
            })
        })
        .collect()
}

/// The newest row of `tlog_checkpoints`.
pub async fn latest_tree_checkpoint<C: GenericClient>(
    c: &C,
) -> Result<Option<SignedCheckpoint>, tokio_postgres::Error> {
    let row = c
        .query_opt(
            "SELECT size, at, note FROM tlog_checkpoints ORDER BY no DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| {
        let note: Vec<u8> = r.get(2);
        let root = signed_note::Note::from_bytes(&note)
            .ok()
            .and_then(|n| tlog_tiles::Checkpoint::from_bytes(n.text()).ok())
            .map(|c| *c.hash())
            .unwrap_or(TreeHash([0; 32]));
        SignedCheckpoint {
            size: r.get::<_, i64>(0) as u64,
            root,
            at: Timestamp::from_micros(r.get(1)),
            note,
        }
    }))
}
