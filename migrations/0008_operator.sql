-- The kiosk operator (コンビニ事業者) of each session: the RequestHeader's
-- operatorCode at BeginSession. The J-LIS scheme reports issuances by
-- municipality, type and operator (the console's statistics, docs/console.md);
-- an issuance's operator is its session's. Sessions recorded before this
-- version have ''. Like every column of kiosk_session not listed as movable
-- in kiosk_session_guard, it is immutable once written.
ALTER TABLE kiosk_session ADD COLUMN operator_code text NOT NULL DEFAULT '';
