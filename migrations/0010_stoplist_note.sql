-- The clerk console lifts a stop-list entry with a note saying why, kept
-- beside the entry's own note as its history (web/console/stoplist.go).
-- Entries lifted before have none (NULL). The note is set with the lifting,
-- once, like lifted_by and lifted_at.
ALTER TABLE stop_list ADD COLUMN lift_note text;
ALTER TABLE stop_list ADD CONSTRAINT stop_list_lift_note CHECK (lift_note IS NULL OR lifted_at IS NOT NULL);

CREATE OR REPLACE FUNCTION stop_list_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'stop-list entry %: entries are lifted, never deleted', OLD.id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF num_nonnulls(NEW.lifted_by, NEW.lifted_at, NEW.lift_note) > 0 THEN
            RAISE EXCEPTION 'stop-list entry %: an entry is added active, with no lifted_by, lifted_at or lift_note', NEW.id;
        END IF;
        RETURN NEW;
    END IF;
    changed := ledger_changed(to_jsonb(OLD), to_jsonb(NEW), '{lifted_by, lifted_at, lift_note}');
    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'stop-list entry %: % is immutable', OLD.id, changed;
    END IF;
    IF OLD.lifted_at IS NOT NULL AND (NEW.lifted_by, NEW.lifted_at, NEW.lift_note) IS DISTINCT FROM (OLD.lifted_by, OLD.lifted_at, OLD.lift_note) THEN
        RAISE EXCEPTION 'stop-list entry %: lifted_by, lifted_at and lift_note are set once', OLD.id;
    END IF;
    RETURN NEW;
END $$;

GRANT UPDATE (lift_note) ON stop_list TO issuance_app;
