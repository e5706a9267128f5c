-- The clerk console (/console/, docs/console.md): accounts, their sessions,
-- and the failed sign-ins that drive back-off and lock-out. Sessions live
-- here so that any node serves any request.

-- An account. role: koseki_clerk (decides 本籍 applications), registry_clerk
-- (stop list, sync), auditor (reads), admin (accounts); each scoped to the
-- municipalities in lg_codes.
CREATE TABLE clerk (
    username        text        PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,31}$'),
    role            text        NOT NULL CHECK (role IN ('koseki_clerk', 'registry_clerk', 'auditor', 'admin')),
    lg_codes        char(6)[]   NOT NULL,
    password_hash   text        NOT NULL,  -- argon2id, PHC string format (RFC 9106 parameters)
    totp_secret     bytea       NOT NULL,  -- sealed (AES-256-GCM, bound to the username)
    totp_last_step  bigint      NOT NULL DEFAULT 0,  -- a code is accepted once: steps at or before this are refused
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL,
    password_set_at timestamptz NOT NULL
);

-- A signed-in session. The cookie carries a random token; only its SHA-256
-- is stored, so a read of this table signs no one in.
CREATE TABLE console_session (
    token_sha256 bytea       PRIMARY KEY,
    username     text        NOT NULL REFERENCES clerk,
    csrf         text        NOT NULL,
    address      text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX console_session_user ON console_session (username) WHERE ended_at IS NULL;

-- Failed sign-ins, for back-off and lock-out: one row per failure and per
-- thing limited, keyed by registry.RateKey("console-user", typed username)
-- or RateKey("console-addr", address). Keyed by the name typed, not by the
-- account, so that an unknown username is throttled and locked exactly as a
-- known one (the answers cannot tell them apart); hashed, so a password
-- typed into the username field is not kept. Rows older than a day are
-- purged.
CREATE TABLE login_failure (
    key text        NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX login_failure_key ON login_failure (key, at);
CREATE INDEX login_failure_at ON login_failure (at);

GRANT SELECT, INSERT ON clerk, console_session, login_failure TO issuance_app;
GRANT UPDATE (role, lg_codes, password_hash, totp_secret, totp_last_step, disabled_at, password_set_at)
    ON clerk TO issuance_app;
GRANT UPDATE (last_seen, ended_at, csrf) ON console_session TO issuance_app;
GRANT DELETE ON login_failure, console_session TO issuance_app;
