-- customer-area database schema.
--
-- Versioned migrations: each starts with a line `-- migration: <version> <name>` and runs in
-- one transaction. Applied versions are recorded in `schema_migrations`. Never edit a
-- migration that has shipped; add a new one below it.
--
-- Times are Unix seconds (UTC), except in columns whose name ends in `_ms`: milliseconds since
-- the Unix epoch (`webhook_outbox.next_attempt_ms`, `leases.until_ms`). Secrets (session
-- tokens, one-time codes) are stored only as SHA-256 digests; passwords as PBKDF2 PHC strings.

-- migration: 1 customers, sessions, one-time codes, outbox, subscriptions

-- Every customer id ever issued, so that an id is never given out twice, even after deletion.
CREATE TABLE customer_ids (
    id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE customers (
    id               TEXT PRIMARY KEY REFERENCES customer_ids(id),
    identifier       TEXT NOT NULL UNIQUE,
    email            TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    password_hash    TEXT,
    name             TEXT,
    phone            TEXT,
    mobile           TEXT,
    address          TEXT,
    address_town     TEXT,
    address_postcode TEXT,
    address_region   TEXT,
    country          TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    activated_at     INTEGER
) WITHOUT ROWID;

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_customer ON sessions(customer_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- One live code per customer and purpose: a newer request replaces the older code.
CREATE TABLE one_time_codes (
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('activation', 'password_reset', 'email_change')),
    code_hash       BLOB NOT NULL,
    new_email       TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, purpose)
) WITHOUT ROWID;

-- Emails waiting for, or done with, delivery. `raw` is the complete RFC 5322 message; it is
-- emptied once the email is sent, since it may carry a one-time code in clear.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    raw             BLOB,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE TABLE subscription_lists (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE subscriptions (
    customer_id   TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id       TEXT NOT NULL REFERENCES subscription_lists(id) ON DELETE CASCADE,
    subscribed_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, list_id)
) WITHOUT ROWID;

-- Every opt-in and opt-out, kept as proof of consent. Deleted with the customer.
CREATE TABLE consent_records (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('in', 'out')),
    source      TEXT NOT NULL CHECK (source IN ('customer', 'admin', 'import')),
    at          INTEGER NOT NULL
);
CREATE INDEX consent_by_customer ON consent_records(customer_id);

-- migration: 2 request journal and per-address email allowance

-- Password-reset and sign-up requests, committed before they are answered and resolved
-- afterwards (a code issued and an email queued, or nothing for an unknown address) by a
-- background task that deletes each one in the transaction that resolves it. Rows left by a
-- crash are resolved at the next start.
CREATE TABLE email_requests (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('password_reset', 'signup')),
    email      TEXT NOT NULL,
    name       TEXT,
    link_base  TEXT,
    created_at INTEGER NOT NULL
);

-- Emails asked for per address (by SHA-256 digest of the address), for the per-address
-- allowance; rows older than an hour are removed as they stop counting.
CREATE TABLE email_allowance (
    address_hash BLOB NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX email_allowance_by_address ON email_allowance(address_hash, at);

-- migration: 3 login lockout

-- Consecutive failed password checks of an account (login and PATCH `current_password`); a
-- success and a new password clear them. At `limits.login_lockout_failures` the account is
-- locked (`locked_at` set): it accepts no password until a password reset.
ALTER TABLE customers ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN locked_at INTEGER;

-- migration: 4 account security: session details, activity, email-change undo keys

-- A session's public id (shown to its customer, unrelated to the token), when it was last
-- used (refreshed at most once a minute), and who opened it.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
UPDATE sessions SET public_id = lower(hex(randomblob(8))), last_used_at = created_at;
CREATE UNIQUE INDEX sessions_by_public_id ON sessions(public_id);

-- When the customer last signed in (for their data export).
ALTER TABLE customers ADD COLUMN last_login_at INTEGER;

-- Who asked for a password reset or a sign-up, for the activity the request leads to.
ALTER TABLE email_requests ADD COLUMN ip TEXT;
ALTER TABLE email_requests ADD COLUMN user_agent TEXT;

-- What happened to each account (logins, changes, revocations), shown to its customer and
-- kept `auth.activity_retention_days`. Deleted with the customer.
CREATE TABLE activity (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
CREATE INDEX activity_by_customer ON activity(customer_id, id);
CREATE INDEX activity_by_time ON activity(at);

-- One key per confirmed email change, mailed to the address it replaced; presenting it puts
-- that address back. Stored as SHA-256 digests; wrong tries are counted per customer.
CREATE TABLE email_undo_keys (
    id              INTEGER PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    key_hash        BLOB NOT NULL,
    old_email       TEXT NOT NULL,
    new_email       TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX email_undo_by_customer ON email_undo_keys(customer_id);
CREATE INDEX email_undo_by_expiry ON email_undo_keys(expires_at);

-- migration: 5 admin listing and search at scale

-- The admin listing pages through customers in creation order along this index instead of
-- sorting every customer for each page.
CREATE INDEX customers_by_creation ON customers(created_at, id);

-- Every customer's email and identifier as trigrams, so that an admin search for a part of
-- either (three characters or more) reads this index instead of every customer. `row` in
-- customers names the customer's row here; the triggers keep both in step with every write.
CREATE VIRTUAL TABLE customer_search USING fts5(
    id UNINDEXED, email, identifier, tokenize = 'trigram'
);
ALTER TABLE customers ADD COLUMN search_row INTEGER;
CREATE TRIGGER customer_search_on_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customer_search (id, email, identifier)
        VALUES (new.id, new.email, lower(new.identifier));
    UPDATE customers SET search_row = last_insert_rowid() WHERE id = new.id;
END;
CREATE TRIGGER customer_search_on_update AFTER UPDATE OF email, identifier ON customers BEGIN
    UPDATE customer_search SET email = new.email, identifier = lower(new.identifier)
        WHERE rowid = old.search_row;
END;
CREATE TRIGGER customer_search_on_delete AFTER DELETE ON customers BEGIN
    DELETE FROM customer_search WHERE rowid = old.search_row;
END;
UPDATE customers SET search_row = numbered.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM customers) AS numbered
    WHERE customers.id = numbered.id;
INSERT INTO customer_search (rowid, id, email, identifier)
    SELECT search_row, id, email, lower(identifier) FROM customers;

-- migration: 6 customer language
-- The language a customer's emails are written in (a BCP 47 primary tag such as `de`);
-- NULL: `mail.default_language`. A sign-up's language waits in its journaled request.
ALTER TABLE customers ADD COLUMN language TEXT;
ALTER TABLE email_requests ADD COLUMN language TEXT;

-- migration: 7 webhooks, one-click unsubscribe key, consent ledger with who acted

-- Events for the shop's webhook endpoints, one row per event and endpoint, written in the
-- transaction of the change they announce. `webhook_id` is the same on every attempt; `body`
-- is the exact JSON that is signed and sent. Times in milliseconds (retries can be sub-second
-- apart in tests), `created_at` in seconds like every other table.
CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY,
    webhook_id      TEXT NOT NULL UNIQUE,
    endpoint        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    customer_id     TEXT,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX webhook_outbox_queue ON webhook_outbox(endpoint, status, id);

-- Keys this server made for itself (the HMAC key of unsubscribe tokens), kept in the database
-- so that they survive restarts and travel with a backup.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    key        BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The consent ledger gains the sign-up and unsubscribe-link sources and, where the customer
-- acted, their IP and user agent. SQLite cannot change a CHECK, so the table is rebuilt.
CREATE TABLE consent_ledger (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('in', 'out')),
    source      TEXT NOT NULL
                CHECK (source IN ('customer', 'admin', 'import', 'signup', 'unsubscribe_link')),
    at          INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
INSERT INTO consent_ledger (id, customer_id, list_id, action, source, at)
    SELECT id, customer_id, list_id, action, source, at FROM consent_records;
DROP TABLE consent_records;
ALTER TABLE consent_ledger RENAME TO consent_records;
CREATE INDEX consent_by_customer ON consent_records(customer_id);

-- Append-only: an entry is never changed, and removed only with its customer (erasure).
CREATE TRIGGER consent_records_never_change BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consent_records_go_only_with_their_customer BEFORE DELETE ON consent_records
WHEN EXISTS (SELECT 1 FROM customers WHERE id = OLD.customer_id)
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- The members of a list, read in customer id order for the newsletter export.
CREATE INDEX subscriptions_by_list ON subscriptions(list_id, customer_id);

-- migration: 8 passkeys

-- Each customer's WebAuthn user handle: random, stable, stored in their passkeys and handed
-- back by the authenticator at sign-in. Deleted with the customer.
CREATE TABLE passkey_users (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    handle      BLOB NOT NULL UNIQUE
);

-- A customer's passkeys: the credential as the WebAuthn library keeps it (public key,
-- signature counter, backup flags), updated at every sign-in. A credential id belongs to one
-- customer only. Deleted with the customer; a password change or reset keeps them.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_by_customer ON passkeys(customer_id);

-- Ceremonies begun and not yet finished: the challenge's state, keyed by the SHA-256 of the
-- id handed out, single use, expiring after five minutes. Capped per client address and swept
-- when expired, so a flood of begun sign-ins cannot grow the table.
CREATE TABLE passkey_challenges (
    id_hash     BLOB PRIMARY KEY,
    purpose     TEXT NOT NULL,
    customer_id TEXT REFERENCES customers(id) ON DELETE CASCADE,
    ip          TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX passkey_challenges_by_ip ON passkey_challenges(ip, created_at);
CREATE INDEX passkey_challenges_by_expiry ON passkey_challenges(expires_at);

-- How a customer signed in (`password`, `passkey`), on `login_succeeded` events.
ALTER TABLE activity ADD COLUMN method TEXT;

-- migration: 9 subscriptions chosen at sign-up
-- The lists a visitor opted in to on the sign-up form (ids separated by `;`), kept with the
-- journaled request until it is resolved; recorded as consent with source `signup`.
ALTER TABLE email_requests ADD COLUMN subscriptions TEXT;

-- migration: 10 a new customer's search row written by the store, not by a trigger
-- A trigger's insert into the trigram index made SQLite open a statement savepoint, and FTS5
-- writes out its pending rows at every savepoint: each new customer cost a tiny index segment
-- and merges of them (most of an import's time, docs/performance.md). The store now inserts
-- the search row itself, in a statement of its own, before the customer.
DROP TRIGGER customer_search_on_insert;

-- migration: 11 indexes for the housekeeping sweep and the outbox listings
-- The sweep looked for expired codes, sent emails, delivered webhook events and spent email
-- allowances by reading every row of their tables inside its write transaction: at two
-- million sent emails that held the writer for half a second each time, with nothing to
-- delete (docs/performance.md). `mail outbox --status` and `webhooks list --status` read every
-- row to find the newest of one status. Each now finds its rows in an index of its own (the
-- query plan check is src/store/plans.rs).
CREATE INDEX one_time_codes_by_expiry ON one_time_codes(expires_at);
CREATE INDEX outbox_sent ON outbox(status, sent_at);
CREATE INDEX outbox_by_status ON outbox(status, id);
CREATE INDEX webhook_outbox_sent ON webhook_outbox(status, sent_at);
CREATE INDEX webhook_outbox_by_status ON webhook_outbox(status, id);
CREATE INDEX email_allowance_by_time ON email_allowance(at);

-- migration: 12 leases held by one instance at a time
-- Work that one customer-area instance at a time may do when several share a PostgreSQL
-- database (delivering one webhook endpoint's events in order, the housekeeping sweep): the
-- instance holding a lease renews it while it works; one that died lets it run out, and
-- another takes it over. A SQLite database has one server, which holds them all.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- migration: 13 recent authentication, known devices, "this wasn't me" keys
-- When a session last proved its holder knows a credential (its sign-in, or
-- POST /customers/reauthenticate); NULL for sessions opened before this migration, which count
-- as not recently authenticated.
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER;
-- The public id of the session that registered a passkey, so that "this wasn't me" removes
-- what that sign-in added; NULL for passkeys registered before this migration.
ALTER TABLE passkeys ADD COLUMN session_id TEXT;
-- When the change that an undo key reverses was asked for (the email-change request), so that
-- an undo removes the passkeys registered since.
ALTER TABLE email_undo_keys ADD COLUMN asked_at INTEGER;
-- Set by an activation, a reset and the securing of an account: the next sign-in is expected
-- from a new device and sends no new-device notice.
ALTER TABLE customers ADD COLUMN device_notice_skip INTEGER NOT NULL DEFAULT 0;
-- The devices (SHA-256 of the User-Agent and the client's /24 or /64) each customer signed in
-- from, and when last; one not seen for `auth.known_device_days` is new again.
CREATE TABLE known_devices (
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    device_hash  BLOB NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, device_hash)
) WITHOUT ROWID;
-- The keys of the "this wasn't me" links in new-device notices (SHA-256), each naming the
-- session whose sign-in it reports and that sign-in's device.
CREATE TABLE not_me_keys (
    key_hash    BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    device_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX not_me_keys_by_customer ON not_me_keys (customer_id);
CREATE INDEX not_me_keys_by_expiry ON not_me_keys (expires_at);

-- migration: 14 the account each email was sent for
-- The data export gathered emails by recipient address, so a customer who asked to move to an
-- address another account had left saw that account's emails. Each email now names the
-- account it was sent for (no foreign key: a deleted account's receipt outlives it, and ids
-- are never reused). Emails queued before this migration name none and are in no export; sent
-- ones are swept after 30 days like any other.
ALTER TABLE outbox ADD COLUMN customer_id TEXT;
CREATE INDEX outbox_by_customer ON outbox(customer_id, id);

-- migration: 15 lists chosen at sign-up wait for the activation
-- Double opt-in: a self sign-up joined its lists (and had a consent recorded with the IP of
-- whoever filled in the form) before anyone proved the address. The lists now wait on the
-- customer (ids separated by `;`, empty for none) until the activation joins them; NULL for
-- every customer who did not sign up themselves or has activated. A waiting sign-up whose
-- activation has expired is deleted by housekeeping. Pending sign-ups from before this
-- migration cannot be told from retailer-created customers: they keep their subscriptions
-- (no list counts a pending customer as a member) and are not deleted.
ALTER TABLE customers ADD COLUMN sign_up_lists TEXT;

-- migration: 16 wrong reset codes per address
-- Wrong password-reset codes presented per address (by SHA-256 digest of the address) since
-- the last code was issued for it, known or not: a reset code dies at the fifth. Every
-- refused `do_reset` of a well-formed address and code counts here, the same write whatever
-- the address is, so that its answer takes as long for an unknown address as for an account
-- (a write and its fsync). A row goes once its last wrong code is older than any live code.
-- (`one_time_codes.failed_attempts` stays 0 for reset codes.)
CREATE TABLE reset_guesses (
    address_hash BLOB PRIMARY KEY,
    failed       INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
);
CREATE INDEX reset_guesses_by_time ON reset_guesses(last_at);

-- migration: 17 the retailer's staff, their sessions and second factor, the audit log
-- The people of the shop who use the console (`customer-area staff add`). They are not
-- customers: their own rows, sessions and roles. The invitation secret and the password are
-- stored as a SHA-256 digest and a PBKDF2 hash; the TOTP secret is kept as it is (checking a
-- code needs it), with the time step of the last code accepted so that no code works twice.
-- `locked` after `limits.login_lockout_failures` wrong passwords in a row; `staff reset` clears
-- it with everything else.
CREATE TABLE staff (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    name              TEXT,
    role              TEXT NOT NULL CHECK (role IN ('support', 'owner')),
    identifier        TEXT NOT NULL UNIQUE,
    invite_hash       BLOB,
    invite_expires_at INTEGER,
    password_hash     TEXT,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked            INTEGER NOT NULL DEFAULT 0,
    totp_secret       TEXT,
    totp_confirmed    INTEGER NOT NULL DEFAULT 0,
    totp_last_step    INTEGER,
    created_at        INTEGER NOT NULL,
    activated_at      INTEGER
);
-- A staff session: the token's SHA-256; it ends `console.session_hours` after its sign-in, or
-- `console.idle_minutes` after its last use. `second_factor` = 0: a session that may only
-- enroll a second factor.
CREATE TABLE staff_sessions (
    token_hash    BLOB PRIMARY KEY,
    staff_id      INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    second_factor INTEGER NOT NULL,
    ip            TEXT
) WITHOUT ROWID;
CREATE INDEX staff_sessions_by_staff ON staff_sessions(staff_id);
CREATE INDEX staff_sessions_by_expiry ON staff_sessions(expires_at);
-- The ten single-use recovery codes of a staff member's second factor, as SHA-256 digests.
CREATE TABLE staff_recovery_codes (
    staff_id  INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    PRIMARY KEY (staff_id, code_hash)
) WITHOUT ROWID;
-- A sign-in whose password was right and that waits for its second factor (SHA-256 of the
-- challenge handed out), for a few minutes and a few wrong codes.
CREATE TABLE staff_challenges (
    challenge_hash BLOB PRIMARY KEY,
    staff_id       INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    expires_at     INTEGER NOT NULL,
    failed         INTEGER NOT NULL DEFAULT 0,
    ip             TEXT
) WITHOUT ROWID;
CREATE INDEX staff_challenges_by_expiry ON staff_challenges(expires_at);
-- Every action under /admin: who (`staff:<email>` or `api_token`), what, on which customer
-- (`about_customer`, no foreign key: the record outlives a deleted customer), from where.
-- Append-only. It is the shop's record of its staff, not the customer's data: the customer's
-- share of it is the `support_action` events of their activity, which their export holds.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    about_customer TEXT,
    ip          TEXT,
    detail      TEXT
);
CREATE INDEX audit_by_customer ON audit_log(about_customer, id);
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE TRIGGER audit_log_never_changes BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_never_shrinks BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- What staff did to the customer, in the customer's own words (`support_action` events).
ALTER TABLE activity ADD COLUMN detail TEXT;

-- migration: 18 consents moved in with their original source

-- An import keeps where each consent was given (`import:<source>`, SPEC 8.3), and the
-- console's support agents act under their own source. SQLite cannot change a CHECK, so the
-- table is rebuilt, as in migration 7, with its index and append-only triggers.
CREATE TABLE consent_ledger (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('in', 'out')),
    source      TEXT NOT NULL
                CHECK (source IN ('customer', 'admin', 'import', 'signup', 'unsubscribe_link', 'support')
                       OR (source LIKE 'import:_%' AND length(source) <= 71)),
    at          INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
INSERT INTO consent_ledger (id, customer_id, list_id, action, source, at, ip, user_agent)
    SELECT id, customer_id, list_id, action, source, at, ip, user_agent FROM consent_records;
DROP TABLE consent_records;
ALTER TABLE consent_ledger RENAME TO consent_records;
CREATE INDEX consent_by_customer ON consent_records(customer_id);
CREATE TRIGGER consent_records_never_change BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consent_records_go_only_with_their_customer BEFORE DELETE ON consent_records
WHEN EXISTS (SELECT 1 FROM customers WHERE id = OLD.customer_id)
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- migration: 19 bounces and complaints keep the lists deliverable
-- An address a permanent bounce (or too many temporary ones) showed to be dead: no list
-- export names it until the customer confirms a working one.
ALTER TABLE customers ADD COLUMN undeliverable_at INTEGER;
ALTER TABLE customers ADD COLUMN undeliverable_reason TEXT;
ALTER TABLE customers ADD COLUMN soft_bounces INTEGER NOT NULL DEFAULT 0;
-- The consent ledger gains the sources of what bounces and complaints do. SQLite cannot
-- change a CHECK, so the table is rebuilt, its index and triggers with it.
CREATE TABLE consent_ledger (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id     TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('in', 'out')),
    source      TEXT NOT NULL
                CHECK (source IN ('customer', 'admin', 'import', 'signup', 'unsubscribe_link',
                                  'support', 'bounce', 'complaint')
                       OR (source LIKE 'import:_%' AND length(source) <= 71)),
    at          INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
INSERT INTO consent_ledger (id, customer_id, list_id, action, source, at, ip, user_agent)
    SELECT id, customer_id, list_id, action, source, at, ip, user_agent FROM consent_records;
DROP TABLE consent_records;
ALTER TABLE consent_ledger RENAME TO consent_records;
CREATE INDEX consent_by_customer ON consent_records(customer_id);
CREATE TRIGGER consent_records_never_change BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consent_records_go_only_with_their_customer BEFORE DELETE ON consent_records
WHEN EXISTS (SELECT 1 FROM customers WHERE id = OLD.customer_id)
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- migration: 20 the console's overview counts customers from indexes
-- By status and the locked ones. The status index holds the accounts that are not locked
-- only: no other statement can choose it (the sign-up sweep, which looks for pending
-- customers, must start from the expired codes).
CREATE INDEX customers_by_status ON customers(status) WHERE locked_at IS NULL;
CREATE INDEX customers_locked ON customers(locked_at) WHERE locked_at IS NOT NULL;

-- migration: 21 emailed sign-in codes, the customers' second factor
-- A sign-in code is a one-time code of purpose `login_code`, asked for through the request
-- journal (kind `login_code`). SQLite cannot change a CHECK, so both tables are rebuilt.
CREATE TABLE one_time_codes_new (
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL
                    CHECK (purpose IN ('activation', 'password_reset', 'email_change', 'login_code')),
    code_hash       BLOB NOT NULL,
    new_email       TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, purpose)
) WITHOUT ROWID;
INSERT INTO one_time_codes_new SELECT customer_id, purpose, code_hash, new_email,
    failed_attempts, created_at, expires_at FROM one_time_codes;
DROP TABLE one_time_codes;
ALTER TABLE one_time_codes_new RENAME TO one_time_codes;
CREATE INDEX one_time_codes_by_expiry ON one_time_codes(expires_at);
CREATE TABLE email_requests_new (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('password_reset', 'signup', 'login_code')),
    email         TEXT NOT NULL,
    name          TEXT,
    link_base     TEXT,
    created_at    INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    language      TEXT,
    subscriptions TEXT
);
INSERT INTO email_requests_new SELECT id, kind, email, name, link_base, created_at, ip,
    user_agent, language, subscriptions FROM email_requests;
DROP TABLE email_requests;
ALTER TABLE email_requests_new RENAME TO email_requests;
-- Wrong sign-in codes presented per address since the last code was issued for it, known or
-- not, as `reset_guesses` counts reset codes: the code dies at the fifth.
CREATE TABLE login_code_guesses (
    address_hash BLOB PRIMARY KEY,
    failed       INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_code_guesses_by_time ON login_code_guesses(last_at);
-- A customer's TOTP second factor: the secret as it is (checking a code needs it), whether a
-- code confirmed it, and the time step of the last code accepted so that no code works twice.
CREATE TABLE customer_totp (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    confirmed   INTEGER NOT NULL DEFAULT 0,
    last_step   INTEGER,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
-- The ten single-use recovery codes of a customer's second factor, as SHA-256 digests.
CREATE TABLE customer_recovery_codes (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    code_hash   BLOB NOT NULL,
    PRIMARY KEY (customer_id, code_hash)
) WITHOUT ROWID;
-- A sign-in whose first factor (`method`: password or email_code) was right and that waits for
-- its second (SHA-256 of the challenge handed out), for 5 minutes and 5 wrong codes.
CREATE TABLE customer_challenges (
    challenge_hash BLOB PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    expires_at     INTEGER NOT NULL,
    failed         INTEGER NOT NULL DEFAULT 0,
    method         TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX customer_challenges_by_expiry ON customer_challenges(expires_at);
CREATE INDEX customer_challenges_by_customer ON customer_challenges(customer_id);

-- migration: 22 the admin search finds customers by name too
-- The console looks customers up by part of an email address, an identifier or a name; the
-- trigram index held the first two only. FTS5 cannot add a column, so the index is made again
-- with the lower-cased name beside them, from every customer's row (the rows keep their
-- `search_row`), and its triggers with it.
DROP TRIGGER customer_search_on_update;
DROP TRIGGER customer_search_on_delete;
DROP TABLE customer_search;
CREATE VIRTUAL TABLE customer_search USING fts5(
    id UNINDEXED, email, identifier, name, tokenize = 'trigram'
);
CREATE TRIGGER customer_search_on_update AFTER UPDATE OF email, identifier, name ON customers BEGIN
    UPDATE customer_search
        SET email = new.email, identifier = lower(new.identifier), name = lower(new.name)
        WHERE rowid = old.search_row;
END;
CREATE TRIGGER customer_search_on_delete AFTER DELETE ON customers BEGIN
    DELETE FROM customer_search WHERE rowid = old.search_row;
END;
INSERT INTO customer_search (rowid, id, email, identifier, name)
    SELECT search_row, id, email, lower(identifier), lower(name) FROM customers
    WHERE search_row IS NOT NULL;

-- migration: 23 the preference page: a list paused for a while, and pauses in the ledger
-- A subscription its customer paused from the unsubscribe page: no list export names them
-- before this time, and after it they are members again with nothing to run.
ALTER TABLE subscriptions ADD COLUMN paused_until INTEGER;
-- The ledger gains the pause (until `paused_until`) and its early end, and the preference
-- page's source. SQLite cannot change a CHECK, so the table is rebuilt, its index and
-- triggers with it.
CREATE TABLE consent_ledger (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    list_id      TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('in', 'out', 'pause', 'resume')),
    source       TEXT NOT NULL
                 CHECK (source IN ('customer', 'admin', 'import', 'signup', 'unsubscribe_link',
                                   'support', 'bounce', 'complaint', 'preference_page')
                        OR (source LIKE 'import:_%' AND length(source) <= 71)),
    at           INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    paused_until INTEGER
);
INSERT INTO consent_ledger (id, customer_id, list_id, action, source, at, ip, user_agent)
    SELECT id, customer_id, list_id, action, source, at, ip, user_agent FROM consent_records;
DROP TABLE consent_records;
ALTER TABLE consent_ledger RENAME TO consent_records;
CREATE INDEX consent_by_customer ON consent_records(customer_id);
CREATE TRIGGER consent_records_never_change BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consent_records_go_only_with_their_customer BEFORE DELETE ON consent_records
WHEN EXISTS (SELECT 1 FROM customers WHERE id = OLD.customer_id)
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- migration: 24 the console's overview reads counters the database keeps
-- Counting the customers for the overview walked an index of every customer (884 ms at a
-- million). The database now keeps the counts itself, in the transaction of every change:
-- customers by bucket (`locked` for a locked account, else its status) and by the UTC day they
-- were created (`created_at / 86400`, days since 1970-01-01; the customers of that day who are
-- still there). A row may hold 0, and a bucket or day without a row has none. A day's row stays
-- after its customers have gone (one row a day: nothing to sweep). A bulk creation of
-- customers (an import, `db copy`) sets the insert trigger aside within its own transaction
-- and counts what it wrote once (src/store/counters.rs): a trigger on every insert made SQLite
-- open a statement savepoint per customer, and FTS5 writes out its pending rows at each
-- (migration 10).
CREATE TABLE customer_counts (
    bucket    TEXT PRIMARY KEY,
    customers INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE signup_counts (
    day       INTEGER PRIMARY KEY,
    customers INTEGER NOT NULL
);
CREATE TRIGGER customers_counted_on_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customer_counts (bucket, customers)
        VALUES (CASE WHEN new.locked_at IS NOT NULL THEN 'locked' ELSE new.status END, 1)
        ON CONFLICT (bucket) DO UPDATE SET customers = customers + 1;
    INSERT INTO signup_counts (day, customers) VALUES (new.created_at / 86400, 1)
        ON CONFLICT (day) DO UPDATE SET customers = customers + 1;
END;
CREATE TRIGGER customers_counted_on_delete AFTER DELETE ON customers BEGIN
    INSERT INTO customer_counts (bucket, customers)
        VALUES (CASE WHEN old.locked_at IS NOT NULL THEN 'locked' ELSE old.status END, -1)
        ON CONFLICT (bucket) DO UPDATE SET customers = customers - 1;
    INSERT INTO signup_counts (day, customers) VALUES (old.created_at / 86400, -1)
        ON CONFLICT (day) DO UPDATE SET customers = customers - 1;
END;
-- Only the changes that move a customer to another bucket or day: a profile edit, a failed
-- sign-in below the limit or a new password of an account that was not locked pays nothing.
CREATE TRIGGER customers_counted_on_status AFTER UPDATE OF status, locked_at ON customers
WHEN (CASE WHEN old.locked_at IS NOT NULL THEN 'locked' ELSE old.status END)
     IS NOT (CASE WHEN new.locked_at IS NOT NULL THEN 'locked' ELSE new.status END)
BEGIN
    INSERT INTO customer_counts (bucket, customers)
        VALUES (CASE WHEN old.locked_at IS NOT NULL THEN 'locked' ELSE old.status END, -1)
        ON CONFLICT (bucket) DO UPDATE SET customers = customers - 1;
    INSERT INTO customer_counts (bucket, customers)
        VALUES (CASE WHEN new.locked_at IS NOT NULL THEN 'locked' ELSE new.status END, 1)
        ON CONFLICT (bucket) DO UPDATE SET customers = customers + 1;
END;
CREATE TRIGGER customers_counted_on_creation AFTER UPDATE OF created_at ON customers
WHEN old.created_at / 86400 IS NOT new.created_at / 86400
BEGIN
    INSERT INTO signup_counts (day, customers) VALUES (old.created_at / 86400, -1)
        ON CONFLICT (day) DO UPDATE SET customers = customers - 1;
    INSERT INTO signup_counts (day, customers) VALUES (new.created_at / 86400, 1)
        ON CONFLICT (day) DO UPDATE SET customers = customers + 1;
END;
INSERT INTO customer_counts (bucket, customers)
    SELECT CASE WHEN locked_at IS NOT NULL THEN 'locked' ELSE status END, COUNT(*)
    FROM customers GROUP BY 1;
INSERT INTO signup_counts (day, customers)
    SELECT created_at / 86400, COUNT(*) FROM customers GROUP BY 1;
-- The indexes of migration 20 served the overview's counts only.
DROP INDEX customers_by_status;
DROP INDEX customers_locked;

-- migration: 25 staff passkeys
-- Staff are not customers: their passkeys live apart from the customers' (a customer's passkey
-- never signs a staff member in, nor the other way round). Each member's WebAuthn user handle
-- is random, made when they first add a passkey, and unique.
ALTER TABLE staff ADD COLUMN passkey_handle BLOB;
CREATE UNIQUE INDEX staff_by_passkey_handle ON staff(passkey_handle);
-- A staff member's passkeys: the credential as the WebAuthn library keeps it, updated at each
-- sign-in. Removed with the member, and by `staff reset`.
CREATE TABLE staff_passkeys (
    id            TEXT PRIMARY KEY,
    staff_id      INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX staff_passkeys_by_staff ON staff_passkeys(staff_id);
-- Staff ceremonies share the bounded table of begun ceremonies (purposes `staff_register`,
-- `staff_login`); the member who began adding a passkey is kept here.
ALTER TABLE passkey_challenges ADD COLUMN staff_id INTEGER REFERENCES staff(id) ON DELETE CASCADE;
