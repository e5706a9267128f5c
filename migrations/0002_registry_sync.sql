-- Every record the certificates need, per municipality and domain (resident,
-- seal, tax, koseki), loaded by the sync (registry/sync.go, docs/feeds.md),
-- each domain with its applied version; the stop list; and the data
-- versions each issuance was built from.
--
-- A batch is applied in one transaction, validated as a whole before it
-- commits, so readers see the old data or the new and never a mix. The sync
-- checks references within a batch itself; foreign keys, which cost a lookup
-- per row of a million-row load, are dropped.

ALTER TABLE jpki_link DROP CONSTRAINT jpki_link_lg_code_person_id_fkey;
ALTER TABLE person DROP CONSTRAINT person_lg_code_household_id_fkey;

-- A household keeps its members in registry order; the person rows are read
-- by key, so person needs no second index.
ALTER TABLE household ADD COLUMN members text[] NOT NULL DEFAULT '{}';
UPDATE household h SET members = m.ids
FROM (SELECT lg_code, household_id, array_agg(person_id ORDER BY seq) AS ids FROM person GROUP BY 1, 2) m
WHERE m.lg_code = h.lg_code AND m.household_id = h.household_id;
DROP INDEX person_household;

ALTER TABLE person
    ADD COLUMN previous_address      text NOT NULL DEFAULT '',  -- 前住所
    ADD COLUMN honseki               text NOT NULL DEFAULT '',  -- 本籍
    ADD COLUMN hittousha             text NOT NULL DEFAULT '',  -- 筆頭者
    ADD COLUMN my_number             bytea,                      -- 個人番号, AES-256-GCM sealed; never in clear
    ADD COLUMN nationality           text NOT NULL DEFAULT '',  -- '' for Japanese nationals
    ADD COLUMN residence_status      text NOT NULL DEFAULT '',
    ADD COLUMN residence_period      text NOT NULL DEFAULT '',
    ADD COLUMN residence_period_end  date,
    ADD COLUMN residence_card_number text NOT NULL DEFAULT '',
    ADD COLUMN alias_name            text NOT NULL DEFAULT '';

-- A renewed card's certificate → its predecessor (J-LIS 新旧紐付け), so a
-- link survives the renewal.
CREATE TABLE jpki_renewal (
    lg_code           char(6) NOT NULL,
    new_issuer_key_id text    NOT NULL,
    new_serial        text    NOT NULL,
    old_issuer_key_id text    NOT NULL,
    old_serial        text    NOT NULL,
    PRIMARY KEY (lg_code, new_issuer_key_id, new_serial)
);

-- Seal impressions by content: immutable, shared by every batch that
-- refers to them, deleted when no registration refers to them any more.
CREATE TABLE seal_image (
    sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
    png    bytea NOT NULL
);

CREATE TABLE seal_registration (
    lg_code       char(6) NOT NULL,
    number        text    NOT NULL,  -- 登録番号
    person_id     text    NOT NULL,
    state         text    NOT NULL CHECK (state IN ('active', 'abolished', 'suspended')),
    registered_on date    NOT NULL,
    image_sha256  bytea   NOT NULL,
    PRIMARY KEY (lg_code, number)
);
CREATE INDEX seal_registration_person ON seal_registration (lg_code, person_id);

CREATE TABLE tax_record (
    lg_code          char(6)  NOT NULL,
    person_id        text     NOT NULL,
    year             int      NOT NULL,  -- 課税年度
    incomes          text     NOT NULL,  -- label:yen;label:yen, as the feed has them
    total_income     bigint   NOT NULL,
    deductions       text     NOT NULL,
    taxable_income   bigint   NOT NULL,
    municipal_tax    bigint   NOT NULL,
    prefectural_tax  bigint   NOT NULL,
    paid             bigint   NOT NULL,
    outstanding      bigint   NOT NULL,
    resident_on_jan1 boolean  NOT NULL,
    assessed         boolean  NOT NULL,
    PRIMARY KEY (lg_code, person_id, year)
);

-- A 戸籍 is read and replaced whole, so it is kept as one document (members
-- with their events, the 戸籍事項, the 附票); koseki_link finds the current
-- 戸籍 of a person (one per person: a removed member is not linked).
CREATE TABLE koseki (
    lg_code   char(6) NOT NULL,
    koseki_id text    NOT NULL,
    honseki   text    NOT NULL,
    hittousha text    NOT NULL,
    pending   boolean NOT NULL,
    body      json    NOT NULL,
    PRIMARY KEY (lg_code, koseki_id)
);
CREATE TABLE koseki_link (
    lg_code   char(6) NOT NULL,
    person_id text    NOT NULL,
    koseki_id text    NOT NULL,
    PRIMARY KEY (lg_code, person_id)
);

-- The applied version of each domain of each municipality. A batch's
-- transaction moves it last; a reservation share-locks the rows it was
-- built from, so no switch commits between its check and its insert.
CREATE TABLE data_version (
    lg_code    char(6)     NOT NULL,
    domain     text        NOT NULL CHECK (domain IN ('resident', 'seal', 'tax', 'koseki')),
    seq        bigint      NOT NULL CHECK (seq > 0),
    kind       text        NOT NULL,
    as_of      timestamptz NOT NULL,  -- when the legacy system extracted the data
    applied_at timestamptz NOT NULL,
    PRIMARY KEY (lg_code, domain)
);
INSERT INTO data_version (lg_code, domain, seq, kind, as_of, applied_at)
SELECT DISTINCT lg_code, 'resident', 1, 'snapshot', now(), now() FROM household;

-- Every batch the sync has applied or rejected.
CREATE TABLE sync_batch (
    id              bigserial   PRIMARY KEY,
    batch           text        NOT NULL,  -- the directory name
    lg_code         text        NOT NULL,
    domain          text        NOT NULL,
    seq             bigint      NOT NULL,
    kind            text        NOT NULL,
    manifest_sha256 bytea       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('applied', 'rejected')),
    records         bigint      NOT NULL DEFAULT 0,
    detail          text        NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_batch_applied ON sync_batch (lg_code, domain, seq) WHERE status = 'applied';

-- The stop list: an active entry stops every issuance concerning the person.
-- Entries are lifted, never deleted.
CREATE TABLE stop_list (
    id        bigserial   PRIMARY KEY,
    lg_code   char(6)     NOT NULL,
    person_id text        NOT NULL,
    note      text        NOT NULL DEFAULT '',
    added_by  text        NOT NULL,
    added_at  timestamptz NOT NULL,
    lifted_by text,
    lifted_at timestamptz,
    CHECK ((lifted_by IS NULL) = (lifted_at IS NULL))
);
CREATE UNIQUE INDEX stop_list_active ON stop_list (lg_code, person_id) WHERE lifted_at IS NULL;

-- The versions of the data each certificate was built from, e.g.
-- {"resident": 42, "seal": 7}: part of the immutable facts.
ALTER TABLE issuance ADD COLUMN data_versions jsonb NOT NULL DEFAULT '{}';

CREATE OR REPLACE FUNCTION issuance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'issuance records are never deleted';
    END IF;
    IF (NEW.issuance_id, NEW.session_id, NEW.lg_code, NEW.person_id, NEW.serial, NEW.cert_type,
        NEW.copies, NEW.fee, NEW.pdf_sha256, NEW.subjects, NEW.reserved_at, NEW.data_versions)
       IS DISTINCT FROM
       (OLD.issuance_id, OLD.session_id, OLD.lg_code, OLD.person_id, OLD.serial, OLD.cert_type,
        OLD.copies, OLD.fee, OLD.pdf_sha256, OLD.subjects, OLD.reserved_at, OLD.data_versions) THEN
        RAISE EXCEPTION 'issuance facts are immutable';
    END IF;
    IF OLD.status IN ('ISSUED', 'VOIDED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'issuance % is final (%)', OLD.issuance_id, OLD.status;
    END IF;
    RETURN NEW;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON jpki_renewal, seal_image, seal_registration, tax_record,
    koseki, koseki_link, data_version TO issuance_app;
GRANT SELECT, INSERT ON sync_batch TO issuance_app;
GRANT SELECT, INSERT, UPDATE ON stop_list TO issuance_app;
GRANT USAGE ON SEQUENCE sync_batch_id_seq, stop_list_id_seq TO issuance_app;
