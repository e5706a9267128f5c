-- Foundation: resident data (per municipality), JPKI links, the issuance
-- ledger and request replay. Every key of resident data starts with lg_code:
-- one deployment serves several municipalities.

CREATE TABLE household (
    lg_code      char(6) NOT NULL,
    household_id text    NOT NULL,
    head_id      text    NOT NULL,
    address      text    NOT NULL,
    PRIMARY KEY (lg_code, household_id)
);

CREATE TABLE person (
    lg_code            char(6)  NOT NULL,
    person_id          text     NOT NULL,
    household_id       text     NOT NULL,
    seq                int      NOT NULL,  -- order within the household, as the registry prints it
    family_name        text     NOT NULL,
    given_name         text     NOT NULL,
    family_kana        text     NOT NULL,
    given_kana         text     NOT NULL,
    former_surname     text     NOT NULL DEFAULT '',
    birth_date         date     NOT NULL,
    sex                smallint NOT NULL CHECK (sex IN (1, 2)),
    relationship       text     NOT NULL,
    address            text     NOT NULL,
    became_resident_on date,
    address_since      date,
    status             text     NOT NULL CHECK (status IN ('resident', 'moving_out', 'moved_out', 'deceased')),
    support_measure    boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (lg_code, person_id),
    FOREIGN KEY (lg_code, household_id) REFERENCES household DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX person_household ON person (lg_code, household_id, seq);

-- JPKI user-authentication certificate → person. The issuer is named by its
-- key identifier: JPKI root generations share one distinguished name.
CREATE TABLE jpki_link (
    lg_code       char(6) NOT NULL,
    issuer_key_id text    NOT NULL,
    serial        text    NOT NULL,
    person_id     text    NOT NULL,
    PRIMARY KEY (lg_code, issuer_key_id, serial),
    FOREIGN KEY (lg_code, person_id) REFERENCES person
);

CREATE TABLE kiosk_session (
    session_id    uuid        PRIMARY KEY,
    lg_code       char(6)     NOT NULL,
    terminal_id   text        NOT NULL,
    challenge     bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    state         text        NOT NULL CHECK (state IN ('open', 'authenticated', 'ended')),
    person_id     text,
    issuer_key_id text,
    serial        text,
    ended_at      timestamptz,
    CHECK (state <> 'authenticated' OR (person_id IS NOT NULL AND serial IS NOT NULL))
);
CREATE INDEX kiosk_session_live ON kiosk_session (expires_at) WHERE state <> 'ended';

-- The audit record of every certificate handed out. Rows are never deleted;
-- only the status moves, and only forward (see the trigger).
CREATE TABLE issuance (
    issuance_id   uuid        PRIMARY KEY,
    session_id    uuid        NOT NULL REFERENCES kiosk_session,
    lg_code       char(6)     NOT NULL,
    terminal_id   text        NOT NULL,
    person_id     text        NOT NULL,
    issuer_key_id text        NOT NULL,
    serial        text        NOT NULL,
    cert_type     text        NOT NULL,
    copies        int         NOT NULL CHECK (copies > 0),
    fee           int         NOT NULL CHECK (fee >= 0),
    page_count    int         NOT NULL CHECK (page_count > 0),
    pdf_sha256    bytea       NOT NULL,
    subjects      text[]      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('RESERVED', 'ISSUED', 'VOIDED', 'UNCONFIRMED')),
    reserved_at   timestamptz NOT NULL,
    confirmed_at  timestamptz,
    failure       text
);
CREATE INDEX issuance_session ON issuance (session_id);
CREATE INDEX issuance_day ON issuance (lg_code, reserved_at);

CREATE FUNCTION issuance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'issuance records are never deleted';
    END IF;
    IF (NEW.issuance_id, NEW.session_id, NEW.lg_code, NEW.person_id, NEW.serial, NEW.cert_type,
        NEW.copies, NEW.fee, NEW.pdf_sha256, NEW.subjects, NEW.reserved_at)
       IS DISTINCT FROM
       (OLD.issuance_id, OLD.session_id, OLD.lg_code, OLD.person_id, OLD.serial, OLD.cert_type,
        OLD.copies, OLD.fee, OLD.pdf_sha256, OLD.subjects, OLD.reserved_at) THEN
        RAISE EXCEPTION 'issuance facts are immutable';
    END IF;
    IF OLD.status IN ('ISSUED', 'VOIDED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'issuance % is final (%)', OLD.issuance_id, OLD.status;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER issuance_guard BEFORE UPDATE OR DELETE ON issuance
    FOR EACH ROW EXECUTE FUNCTION issuance_guard();

-- Answers kept for requestId idempotency. A row is 'pending' while its
-- request is being answered by some node.
CREATE TABLE request_replay (
    request_id  uuid        PRIMARY KEY,
    body_sha256 bytea       NOT NULL,
    http_status int,
    response    bytea,
    created_at  timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON household, person, jpki_link TO issuance_app;
GRANT SELECT, INSERT, UPDATE ON kiosk_session, issuance TO issuance_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON request_replay TO issuance_app;
