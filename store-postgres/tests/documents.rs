//! Documents are stored sealed with their attachment event, in one
//! transaction: both or neither; a duplicate is refused and leaves
//! nothing; a stale length is refused likewise.

mod common;

use common::*;
use session::TraceStore;

#[test]
fn documents_are_sealed_and_written_with_their_event() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    let len = store.records(a).unwrap().len() as u64;
    let doc = pdf("compte rendu fictif");
    let appended = store
        .attach(a, len, doc.clone(), vec![attachment(&doc, "cr-fictif.pdf")])
        .expect("attach");
    assert_eq!(appended.first_seq, len + 1);
    let stored = store.document(a, &doc.sha256()).unwrap().expect("stored");
    assert_eq!(
        stored.open(std::slice::from_ref(&keys.data)).unwrap(),
        doc.bytes()
    );
    assert_eq!(
        stored
            .name(std::slice::from_ref(&keys.data))
            .unwrap()
            .expose(),
        "cr-fictif.pdf"
    );
    assert_eq!(store.documents(a).unwrap(), vec![stored.info()]);
    // Sealed in the database: neither the content nor the name in clear.
    let c = raw(&db.url);
    let row = &c.query("SELECT sealed, sealed_name FROM documents", &[])[0];
    for col in [0, 1] {
        let bytes: Vec<u8> = row.get(col);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("compte rendu") && !text.contains("cr-fictif"));
    }

    // The same document again: refused, nothing written.
    let e = store
        .attach(
            a,
            len + 1,
            doc.clone(),
            vec![attachment(&doc, "encore.pdf")],
        )
        .unwrap_err();
    assert!(matches!(e, session::Error::DuplicateDocument(_)), "{e}");
    // A stale length: refused, nothing written.
    let other = pdf("autre");
    let e = store
        .attach(a, len, other.clone(), vec![attachment(&other, "autre.pdf")])
        .unwrap_err();
    assert!(matches!(e, session::Error::Conflict { .. }), "{e}");
    assert!(store.document(a, &other.sha256()).unwrap().is_none());
    assert_eq!(store.records(a).unwrap().len() as u64, len + 1);
    assert_eq!(store.documents(a).unwrap().len(), 1);
    assert!(keys.verify(&store).is_intact());
}
