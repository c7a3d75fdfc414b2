-- 003_tokens.sql — API tokens of `neonblue serve` (docs/api.md). Only the
-- SHA-256 of a token is kept; the token itself is printed once at creation.
-- Not in the CDC publication: token hashes never leave PostgreSQL.
CREATE TABLE api_tokens (
	name text PRIMARY KEY CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
	hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	scopes text[] NOT NULL CHECK (scopes <@ ARRAY['assign', 'track', 'read', 'admin', 'features']
				      AND cardinality(scopes) > 0),
	rate double precision CHECK (rate IS NULL OR rate > 0), -- requests/s; NULL: unlimited
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz,
	revoked_at timestamptz
);

-- Creating and revoking a token is audited like any change.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check
	CHECK (entity IN ('experiment', 'metric', 'assignment', 'token'));
