-- The digest of the snapshot a domain's data is (registry/sync.go,
-- snapshotDigest): its municipality, format, layout, files (names, record
-- types, counts, SHA-256) and the 外字 table they were read with. A
-- snapshot whose digest is the stored one would load exactly the rows
-- stored: it is recorded as applied (the version moves) without being read
-- again. A delta, which changes the data without being a snapshot of it,
-- clears it; so does anything written before this migration (NULL: the
-- next snapshot is loaded whole).
ALTER TABLE data_version ADD COLUMN snapshot_sha256 bytea;
