-- Schema version 2: professional accounts and the access log beside the
-- trace (session::access, format teleconsult-access/1 on SQLite;
-- docs/TRACE_POSTGRES.md describes every field). Applied by the same
-- migration machinery as 0001, in one transaction under the migration lock.
-- Each access_log row is also a leaf of the Merkle tree (tlog_leaves kind 1,
-- item = seq), appended in the entry's transaction under the tree lock.

-- One row per professional account.
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- chosen at insertion, never reused
    login text NOT NULL UNIQUE,       -- the sign-in name, in clear
    role text NOT NULL,               -- 'professional' or 'administrator'
    created_at bigint NOT NULL,       -- µs since the epoch, UTC
    disabled_at bigint,               -- µs; NULL while enabled
    password text NOT NULL,           -- an argon2 PHC string, never the password
    secrets bytea NOT NULL,           -- sealed name, RPPS number and TOTP secret, bound to the login
    totp_step bigint NOT NULL DEFAULT 0  -- the last TOTP time step accepted
);

-- One row per read, export or sign-in attempt, hash-chained and signed.
CREATE TABLE access_log (
    seq bigint PRIMARY KEY,           -- 1, 2, 3...: the chain's order and the fence
    at bigint NOT NULL,               -- µs since the epoch, UTC
    actor text NOT NULL,              -- 'account:ID', 'operator', 'cli:USER', 'unknown': never a name
    action text NOT NULL,
    act bytea NOT NULL,               -- the act's 16-byte id, or empty
    outcome text NOT NULL,
    prev_hash bytea NOT NULL,         -- the previous entry's hash (session::access::access_genesis for seq 1)
    hash bytea NOT NULL,              -- session::access::entry_hash
    key_id bytea NOT NULL,            -- the signing key's 8-byte id
    signature bytea NOT NULL          -- Ed25519 over hash
);
CREATE INDEX access_log_outcome ON access_log (outcome);

-- Append-only by triggers, whoever runs the statement...
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION trace_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only();

-- ...and by grants: the role keeps SELECT and INSERT on the access log, and
-- on accounts UPDATE of the three columns the server changes only (never
-- the login, password or secrets, never DELETE).
REVOKE ALL ON accounts, access_log FROM PUBLIC;
REVOKE ALL ON accounts, access_log FROM CURRENT_USER;
GRANT SELECT, INSERT ON accounts, access_log TO CURRENT_USER;
GRANT UPDATE (role, disabled_at, totp_step) ON accounts TO CURRENT_USER;
