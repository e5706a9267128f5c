-- Rate limits shared by every node (web.RateLimiter): hits per key in fixed
-- windows. Keys name what is limited, never a personal fact in clear (an
-- application number is hashed before it becomes a key).
CREATE TABLE rate_window (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    hits         int         NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_window_start ON rate_window (window_start);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_window TO issuance_app;
