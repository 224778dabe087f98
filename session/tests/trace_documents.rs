//! Documents attached to an act, in the store: a document and the
//! `attachment_added` event that records it are committed together, read
//! back sealed, opened with the data key and checked against their digest;
//! a changed or moved blob is refused; an attach that fails (a stale act,
//! events that do not record the document, a document stored already)
//! leaves neither the row nor the events; a store made before documents
//! existed reads as having none and gets the table when a writer opens it.

mod common;

use common::store::{TestTrace, verify_dir};
use common::*;
use rusqlite::Connection;
use session::act::{Act, ActKind, Command};
use session::document::{DocumentType, Upload};
use session::event::{ActEvent, Event};
use session::store::{TraceStore, load_act};
use session::trace::document::document_aad;
use session::trace::seal::seal_bytes;
use session::{ActId, Error, Pii, Sha256};

/// A small PNG-signed file, distinct per `n`.
fn png(n: u8) -> Upload {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    bytes.extend(std::iter::repeat_n(n, 64));
    Upload::inspect(bytes).expect("a PNG")
}

fn pdf() -> Upload {
    Upload::inspect(b"%PDF-1.7\n% compte rendu fictif\n%%EOF\n".to_vec()).expect("a PDF")
}

/// A teleconsultation stored with its requester (p1), patient (p2), in
/// preparation with the patient's consent; and its event count.
fn consented(store: &dyn TraceStore) -> (Act, u64) {
    let (mut act, first) = Act::request(ActId::random(), ActKind::Teleconsultation, true, at_ms(0));
    let mut events = vec![first];
    for (i, c) in in_performance(requester(), patient(PATIENT_ALIAS_1))
        .into_iter()
        .take(4)
        .enumerate()
    {
        events.extend(
            act.handle(c, at_ms(1_000 * (i as u64 + 1)))
                .expect("command"),
        );
    }
    let len = events.len() as u64;
    store.append(act.id, Some(0), events).expect("append");
    (act, len)
}

/// Decides the attachment of `upload` by the requester at `ms`.
fn attach_events(act: &mut Act, upload: &Upload, name: &str, ms: u64) -> Vec<Event> {
    act.handle(
        Command::attach(upload, Pii::new(name.into()), REQUESTER_ID),
        at_ms(ms),
    )
    .expect("attach decided")
}

#[test]
fn an_attached_document_reads_back_opened_and_listed() {
    let t = TestTrace::new();
    let keys = std::slice::from_ref(&t.keys.data);
    let (mut act, len) = consented(&t.store);
    let image = png(1);
    let report = pdf();
    let events = attach_events(&mut act, &image, "scans/radio genou.png", 10_000);
    let appended = t
        .store
        .attach(act.id, len, image.clone(), events)
        .expect("attach");
    assert_eq!(appended.first_seq, len + 1);
    let events = attach_events(&mut act, &report, "compte-rendu.pdf", 11_000);
    t.store
        .attach(act.id, len + 1, report.clone(), events)
        .expect("attach");

    let stored = t
        .store
        .document(act.id, &image.sha256())
        .expect("read")
        .expect("stored");
    assert_eq!(stored.media_type, DocumentType::Png);
    assert_eq!(stored.size, image.size());
    assert_eq!(stored.open(keys).expect("opens"), image.bytes());
    assert_eq!(stored.name(keys).expect("name").expose(), "radio genou.png");
    assert!(!format!("{stored:?}").contains("genou"));
    // Sealed at rest: neither content nor name in clear.
    assert!(!stored.sealed.windows(4).any(|w| w == b"IHDR"));
    assert_eq!(
        t.store.documents(act.id).expect("list"),
        vec![stored.info(), {
            let r = t.store.document(act.id, &report.sha256()).unwrap().unwrap();
            r.info()
        }]
    );
    // Not attached to another act, nor under another digest.
    assert!(
        t.store
            .document(ActId::random(), &image.sha256())
            .unwrap()
            .is_none()
    );
    assert!(
        t.store
            .document(act.id, &Sha256::digest(b"other"))
            .unwrap()
            .is_none()
    );
    // The trace holds the attachments, and replays to the act.
    let (replayed, n) = load_act(&t.store, act.id, keys).expect("load");
    assert_eq!(n, len + 2);
    assert_eq!(replayed, act);
    assert_eq!(replayed.attachments.len(), 2);
    assert_eq!(replayed.attachments[0].document, image.sha256());
    assert!(t.verify().is_intact(), "{:?}", t.verify());

    // A reader opened afresh sees the same.
    let (_dir, data, keys) = t.close();
    let reader = data.open_reader().expect("reader");
    let again = reader.document(act.id, &report.sha256()).unwrap().unwrap();
    assert_eq!(
        again.open(std::slice::from_ref(&keys.data)).unwrap(),
        report.bytes()
    );
    assert!(verify_dir(&data).is_intact());
}

#[test]
fn a_changed_or_moved_document_is_refused() {
    let t = TestTrace::new();
    let (mut act, len) = consented(&t.store);
    let (a, b) = (png(1), png(2));
    let events = attach_events(&mut act, &a, "a.png", 10_000);
    t.store.attach(act.id, len, a.clone(), events).unwrap();
    let events = attach_events(&mut act, &b, "b.png", 11_000);
    t.store.attach(act.id, len + 1, b.clone(), events).unwrap();
    let (_dir, data, writer_keys) = t.close();
    let keys = std::slice::from_ref(&writer_keys.data);

    let forger = Connection::open(data.db_path()).unwrap();
    forger
        .execute_batch("DROP TRIGGER documents_no_update")
        .unwrap();
    let blob_of = |d: &Upload| -> Vec<u8> {
        forger
            .query_row(
                "SELECT sealed FROM documents WHERE sha256 = ?1",
                [d.sha256().as_bytes().as_slice()],
                |r| r.get(0),
            )
            .unwrap()
    };
    let set_blob = |d: &Upload, blob: &[u8]| {
        forger
            .execute(
                "UPDATE documents SET sealed = ?1 WHERE sha256 = ?2",
                rusqlite::params![blob, d.sha256().as_bytes().as_slice()],
            )
            .unwrap();
    };
    let open = |d: &Upload| {
        let store = data.open_reader().unwrap();
        store
            .document(act.id, &d.sha256())
            .unwrap()
            .expect("row")
            .open(keys)
    };
    // One byte of the ciphertext changed.
    let original = blob_of(&a);
    let mut flipped = original.clone();
    flipped[40] ^= 0x01;
    set_blob(&a, &flipped);
    assert!(matches!(open(&a), Err(Error::Unseal)), "{:?}", open(&a));
    // Another document's blob moved under this digest.
    set_blob(&a, &blob_of(&b));
    assert!(matches!(open(&a), Err(Error::Unseal)));
    // Other content sealed with the right key under this digest's
    // associated data (what only a holder of the data key could do): it
    // opens, and the digest check refuses it. The content blob has the
    // layout of `seal_bytes`.
    let forged = seal_bytes(b.bytes(), &keys[0], &document_aad(act.id, &a.sha256())).unwrap();
    set_blob(&a, &forged);
    assert!(
        matches!(open(&a), Err(Error::DocumentDigest)),
        "{:?}",
        open(&a)
    );
    // Put back, it opens again.
    set_blob(&a, &original);
    assert_eq!(open(&a).unwrap(), a.bytes());
    // The trace itself was never touched.
    assert!(verify_dir(&data).is_intact());
}

#[test]
fn a_failed_attach_leaves_neither_row_nor_event() {
    let t = TestTrace::new();
    let (mut act, len) = consented(&t.store);
    let image = png(1);
    let events = attach_events(&mut act, &image, "radio.png", 10_000);
    let count = |t: &TestTrace| t.store.records(act.id).unwrap().len() as u64;

    // A stale act: the fence refuses before anything is written.
    let e = t
        .store
        .attach(act.id, len - 1, image.clone(), events.clone())
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    // Events that do not record this document.
    let e = t
        .store
        .attach(act.id, len, png(2), events.clone())
        .unwrap_err();
    assert!(matches!(e, Error::DocumentMismatch(_)), "{e:?}");
    let e = t
        .store
        .attach(
            act.id,
            len,
            image.clone(),
            vec![events[0].clone(), events[0].clone()],
        )
        .unwrap_err();
    assert!(matches!(e, Error::DocumentMismatch(_)), "{e:?}");
    assert!(t.store.documents(act.id).unwrap().is_empty());
    assert_eq!(count(&t), len);

    // Stored once; the same document again, with events the act's rules
    // would refuse but the store is handed anyway, is refused after its
    // events were written in the transaction: they are rolled back.
    t.store.attach(act.id, len, image.clone(), events).unwrap();
    let again = Event {
        at: at_ms(12_000),
        body: ActEvent::AttachmentAdded {
            document: image.sha256(),
            media_type: image.media_type(),
            size: image.size(),
            name: Pii::new("copie.png".into()),
            by: REQUESTER_ID,
        },
    };
    let e = t
        .store
        .attach(act.id, len + 1, image.clone(), vec![again])
        .unwrap_err();
    assert!(
        matches!(e, Error::DuplicateDocument(d) if d == image.sha256()),
        "{e:?}"
    );
    assert_eq!(count(&t), len + 1);
    assert_eq!(t.store.documents(act.id).unwrap().len(), 1);
    // The writer goes on: the next append lands at the right seq.
    let events = act
        .handle(Command::StartPerformance, at_ms(13_000))
        .unwrap();
    let appended = t.store.append(act.id, Some(len + 1), events).unwrap();
    assert_eq!(appended.first_seq, len + 2);
    assert!(t.verify().is_intact(), "{:?}", t.verify());

    // A read-only store attaches nothing.
    let (_dir, data, _) = t.close();
    let reader = data.open_reader().unwrap();
    let events = attach_events(&mut act, &png(3), "c.png", 14_000);
    assert!(reader.attach(act.id, len + 2, png(3), events).is_err());
}

#[test]
fn a_store_made_before_documents_gets_the_table_from_its_writer() {
    let t = TestTrace::new();
    let (mut act, len) = consented(&t.store);
    let (_dir, data, _) = t.close();
    let raw = Connection::open(data.db_path()).unwrap();
    raw.execute_batch(
        "DROP TRIGGER documents_no_update; DROP TRIGGER documents_no_delete; DROP TABLE documents;",
    )
    .unwrap();
    drop(raw);
    let reader = data.open_reader().unwrap();
    assert!(reader.documents(act.id).unwrap().is_empty());
    assert!(reader.document(act.id, &png(1).sha256()).unwrap().is_none());
    drop(reader);

    let (store, keys) = data.open_writer().unwrap();
    let image = png(1);
    let events = attach_events(&mut act, &image, "radio.png", 10_000);
    store.attach(act.id, len, image.clone(), events).unwrap();
    let stored = store.document(act.id, &image.sha256()).unwrap().unwrap();
    assert_eq!(
        stored.open(std::slice::from_ref(&keys.data)).unwrap(),
        image.bytes()
    );
    store.close();
    assert!(verify_dir(&data).is_intact());
}

/// A large document goes through the writer's queue and one transaction
/// whole. 8 MiB, not the 50 MiB limit: sealing and opening are generic
/// code compiled unoptimised in a debug build, about 0.2 s a MiB each way.
#[test]
fn a_large_document_is_stored_whole() {
    let t = TestTrace::new();
    let keys = std::slice::from_ref(&t.keys.data);
    let (mut act, len) = consented(&t.store);
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    bytes.resize(8 << 20, 0x5a);
    let dicom = Upload::inspect(bytes).unwrap();
    assert_eq!(dicom.media_type(), DocumentType::Dicom);
    let events = attach_events(&mut act, &dicom, "serie.dcm", 10_000);
    t.store.attach(act.id, len, dicom.clone(), events).unwrap();
    let stored = t.store.document(act.id, &dicom.sha256()).unwrap().unwrap();
    assert_eq!(stored.size, 8 << 20);
    assert!(stored.open(keys).unwrap() == dicom.bytes());
}
