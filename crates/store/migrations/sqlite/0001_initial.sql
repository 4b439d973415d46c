-- Tollgate configuration and audit log. Timestamps are Unix milliseconds.
-- Entity fields other than keys and secrets are kept as JSON documents in
-- the API's own shape, so adding a field needs no migration.

CREATE TABLE accounts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind    TEXT NOT NULL CHECK (kind IN ('customer', 'carrier')),
    data    TEXT NOT NULL
);

CREATE TABLE ip_auth_entries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    data         TEXT NOT NULL,
    -- The password Tollgate answers a destination's 401/407 with. Needed in
    -- clear; never returned by the API, never in the audit log.
    uac_password TEXT
);
CREATE INDEX ip_auth_entries_account ON ip_auth_entries (account_id);

CREATE TABLE sip_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    username       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    data           TEXT NOT NULL,
    -- Digest HA1 per algorithm for the configured realm; the password is
    -- never stored.
    ha1_md5        TEXT NOT NULL,
    ha1_sha256     TEXT NOT NULL,
    ha1_sha512_256 TEXT NOT NULL
);
CREATE INDEX sip_users_account ON sip_users (account_id);

CREATE TABLE routes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    data       TEXT NOT NULL
);
CREATE INDEX routes_account ON routes (account_id);

CREATE TABLE firewall (
    address    TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    hits       INTEGER NOT NULL DEFAULT 0,
    notes      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    actor_ip   TEXT,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    account_id INTEGER,
    message    TEXT NOT NULL,
    before     TEXT,
    after      TEXT
);
CREATE INDEX audit_entity ON audit (entity, entity_id);
CREATE INDEX audit_account ON audit (account_id);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE admin_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
);

-- One row: bumped by every configuration change, so readers know when to
-- rebuild their snapshot.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
