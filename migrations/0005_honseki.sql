-- 本籍地 pre-registration (利用登録申請, docs/honseki.md). A person whose 本籍
-- is here but who lives elsewhere applies (kiosk or internet); a koseki
-- clerk of the 本籍地 matches the application to a 戸籍 member and approves
-- it (a registration: the JPKI certificate linked to that member) or
-- rejects it with a reason; the applicant checks the status by number.

-- One row per application. The facts (card facts, the typed 本籍 and 筆頭者)
-- are personal data: sealed (AES-256-GCM under a subkey of the 個人番号 key,
-- bound to the application number) and set to NULL by the purge job a
-- configured time after the decision; what the audit needs stays.
CREATE TABLE honseki_application (
    application_number text        PRIMARY KEY,  -- 申請番号: random, with a check digit (issuance.NewApplicationNumber)
    lg_code            char(6)     NOT NULL,      -- the 本籍地: the municipality that decides
    channel            text        NOT NULL CHECK (channel IN ('kiosk', 'internet')),
    terminal_id        text,                      -- the kiosk, when filed in a session
    issuer_key_id      text        NOT NULL,      -- the applicant's user certificate
    serial             text        NOT NULL,
    birth_check        bytea       NOT NULL,      -- HMAC-SHA-256(number, birth date): the status check, kept after the purge
    facts              bytea,                     -- sealed JSON (registry.applicationFacts); NULL once purged
    status             text        NOT NULL DEFAULT 'RECEIVED'
                                   CHECK (status IN ('RECEIVED', 'APPROVED', 'REJECTED', 'WITHDRAWN')),
    received_at        timestamptz NOT NULL,
    expected_by        date        NOT NULL,      -- received_at + the municipality's business days
    decided_at         timestamptz,
    decided_by         text,                      -- the clerk's username
    reject_reason      text,                      -- a code of issuance.RejectReasons
    note               bytea,                     -- the clerk's internal note, sealed; purged with the facts
    koseki_id          text,                      -- the member chosen at approval
    member_seq         int,
    purged_at          timestamptz,
    CHECK ((status = 'RECEIVED') = (decided_at IS NULL)),
    CHECK ((status = 'REJECTED') = (reject_reason IS NOT NULL)),
    CHECK ((status = 'APPROVED') = (koseki_id IS NOT NULL AND member_seq IS NOT NULL)),
    CHECK ((facts IS NULL) = (purged_at IS NOT NULL))
);
-- The queue, and one open application per certificate and 本籍地 (the
-- renewal chain is checked by the filing transaction under a lock).
CREATE INDEX honseki_application_queue ON honseki_application (lg_code, received_at) WHERE status = 'RECEIVED';
CREATE UNIQUE INDEX honseki_application_one_open ON honseki_application (lg_code, issuer_key_id, serial)
    WHERE status = 'RECEIVED';
CREATE INDEX honseki_application_purge ON honseki_application (decided_at) WHERE facts IS NOT NULL AND decided_at IS NOT NULL;

-- Every decision, in order: who decided what and when (shown on the
-- application page). Append only.
CREATE TABLE honseki_decision (
    id                 bigserial   PRIMARY KEY,
    application_number text        NOT NULL REFERENCES honseki_application,
    decision           text        NOT NULL CHECK (decision IN ('approve', 'reject', 'withdraw')),
    koseki_id          text,
    member_seq         int,
    reason             text,
    clerk              text        NOT NULL,
    at                 timestamptz NOT NULL
);
CREATE INDEX honseki_decision_application ON honseki_decision (application_number, id);

-- A registration: a JPKI user certificate linked to a 戸籍 member kept here.
-- A renewed card finds it through jpki_renewal (新旧紐付け). It lasts while
-- the member is a current member of that 戸籍; after 除籍 it is shown as
-- ended (computed from the 戸籍, so it can never disagree with it).
-- A certificate may be registered again after its registration ended (the
-- person left one 戸籍 and was approved for another): the newest counts.
CREATE TABLE honseki_registration (
    application_number text        PRIMARY KEY REFERENCES honseki_application,
    lg_code            char(6)     NOT NULL,
    issuer_key_id      text        NOT NULL,
    serial             text        NOT NULL,
    koseki_id          text        NOT NULL,
    member_seq         int         NOT NULL,
    registered_at      timestamptz NOT NULL
);
CREATE INDEX honseki_registration_cert ON honseki_registration (lg_code, issuer_key_id, serial, registered_at DESC);
CREATE INDEX honseki_registration_member ON honseki_registration (lg_code, koseki_id, member_seq);

REVOKE ALL ON honseki_application, honseki_decision, honseki_registration FROM issuance_app;
GRANT SELECT, INSERT ON honseki_application, honseki_decision, honseki_registration TO issuance_app;
GRANT UPDATE (status, decided_at, decided_by, reject_reason, note, koseki_id, member_seq, facts, purged_at)
    ON honseki_application TO issuance_app;
GRANT USAGE ON SEQUENCE honseki_decision_id_seq TO issuance_app;

-- A decision is final, and the facts of an application never change (they
-- may only be purged). The grants keep the rest; this keeps the order.
CREATE FUNCTION honseki_application_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'RECEIVED' AND (NEW.status, NEW.decided_at, NEW.decided_by, NEW.reject_reason, NEW.koseki_id, NEW.member_seq)
       IS DISTINCT FROM (OLD.status, OLD.decided_at, OLD.decided_by, OLD.reject_reason, OLD.koseki_id, OLD.member_seq) THEN
        RAISE EXCEPTION 'application % is already decided (%)', OLD.application_number, OLD.status;
    END IF;
    IF NEW.facts IS DISTINCT FROM OLD.facts AND NEW.facts IS NOT NULL THEN
        RAISE EXCEPTION 'application facts are immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER honseki_application_guard BEFORE UPDATE ON honseki_application
    FOR EACH ROW EXECUTE FUNCTION honseki_application_guard();
