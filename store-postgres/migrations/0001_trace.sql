-- The act trace on PostgreSQL, schema version 1 (docs/TRACE_POSTGRES.md
-- describes every field). Applied by PgStore::open in one transaction,
-- under an advisory lock, by the role the store connects as; that role
-- then owns the tables but holds only SELECT and INSERT on the evidence.

-- What the database is: format, schema version, data key id, creation.
CREATE TABLE trace_meta (
    key text PRIMARY KEY,
    value bytea NOT NULL
);

-- One row per trace record (session::trace::TraceRecord).
CREATE TABLE events (
    id bigint PRIMARY KEY,            -- commit order, given under the tree lock; the leaf's item
    act bytea NOT NULL,               -- the act's 16-byte UUID
    seq bigint NOT NULL,              -- position in the act's chain, from 1
    at bigint NOT NULL,               -- µs since the epoch, UTC
    kind text NOT NULL,               -- the event's kind
    public bytea NOT NULL,            -- the event's JSON, personal fields replaced by markers
    sealed bytea NOT NULL,            -- the sealed personal fields (empty if none)
    prev_hash bytea NOT NULL,         -- the previous record's hash (the genesis hash for seq 1)
    hash bytea NOT NULL,              -- SHA-256 over the record (session::trace::record_hash)
    -- The fence: two writers cannot both write event `seq` of an act.
    CONSTRAINT events_act_seq UNIQUE (act, seq)
);

-- One row per commit (session::trace::Checkpoint), chained and signed.
CREATE TABLE checkpoints (
    no bigint PRIMARY KEY,
    at bigint NOT NULL,
    prev bytea NOT NULL,
    heads bytea NOT NULL,             -- session::trace::encode_heads
    key_id bytea NOT NULL,
    signature bytea NOT NULL
);

-- Documents attached to acts, sealed with the data key.
CREATE TABLE documents (
    no bigint GENERATED ALWAYS AS IDENTITY,  -- attachment order
    act bytea NOT NULL,
    sha256 bytea NOT NULL,
    media_type text NOT NULL,
    size bigint NOT NULL,
    sealed_name bytea NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (act, sha256)
);

-- The Merkle tree over every event, in commit order (session::tlog).
CREATE TABLE tlog_leaves (
    idx bigint PRIMARY KEY,           -- 0, 1, 2...
    kind smallint NOT NULL,           -- 0: a trace event (1, access entries, is not kept here)
    item bigint NOT NULL,             -- events.id
    CONSTRAINT tlog_leaves_item UNIQUE (kind, item)
);
CREATE TABLE tlog_hashes (
    id bigint PRIMARY KEY,            -- tlog_tiles' stored hash index
    hash bytea NOT NULL
);
CREATE TABLE tlog_checkpoints (
    no bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size bigint NOT NULL,
    at bigint NOT NULL,
    note bytea NOT NULL               -- the C2SP signed note
);

-- Append-only, first by triggers (which stop anyone short of disabling
-- them, superuser and owner included)...
CREATE FUNCTION trace_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the trace is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER documents_append_only BEFORE UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER documents_no_truncate BEFORE TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_leaves_append_only BEFORE UPDATE OR DELETE ON tlog_leaves
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_leaves_no_truncate BEFORE TRUNCATE ON tlog_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_hashes_append_only BEFORE UPDATE OR DELETE ON tlog_hashes
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_hashes_no_truncate BEFORE TRUNCATE ON tlog_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_checkpoints_append_only BEFORE UPDATE OR DELETE ON tlog_checkpoints
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER tlog_checkpoints_no_truncate BEFORE TRUNCATE ON tlog_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();

-- ...then by grants: nobody else gets anything, and the owner (the role the
-- store connects as) keeps only SELECT and INSERT on the evidence, so an
-- UPDATE or DELETE is refused with "permission denied" before any trigger.
-- (An owner may grant itself back what it revoked: the grants and triggers
-- stop mistakes; the hash chains and signatures detect intent.)
REVOKE ALL ON trace_meta, events, checkpoints, documents, tlog_leaves, tlog_hashes, tlog_checkpoints FROM PUBLIC;
REVOKE ALL ON events, checkpoints, documents, tlog_leaves, tlog_hashes, tlog_checkpoints FROM CURRENT_USER;
GRANT SELECT, INSERT ON events, checkpoints, documents, tlog_leaves, tlog_hashes, tlog_checkpoints TO CURRENT_USER;
