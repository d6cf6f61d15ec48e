-- The audit log (issue: verification pipeline, item 7): every decision and every registry
-- exchange, appended to a SHA-256 hash chain. `hash` = SHA-256(prev_hash || body); the head
-- row is locked while a batch is appended, so several gateway instances extend one chain.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
