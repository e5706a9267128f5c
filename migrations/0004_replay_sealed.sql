-- Answers kept for requestId replay hold certificates and 個人番号: from
-- this version they are stored sealed (AES-256-GCM, registry.Replay) and
-- tied to the kiosk session they belong to, so that a repeat after the
-- session has ended is refused and the answer withdrawn (response NULL;
-- the row stays until the purge so the repeat is still recognised).

ALTER TABLE request_replay ADD COLUMN session_id uuid;

-- Answers stored in clear by earlier versions are withdrawn, not sealed
-- after the fact: a repeat of one is refused (SessionUnknown).
UPDATE request_replay SET response = NULL WHERE response IS NOT NULL;

-- The purge job withdraws the answers of ended sessions and deletes old rows.
CREATE INDEX request_replay_live_session ON request_replay (session_id) WHERE response IS NOT NULL;
CREATE INDEX request_replay_created ON request_replay (created_at);
