-- 005_retention.sql — data retention limits (docs/retention.md), set with
-- `neonblue retention set` and applied by `neonblue retention apply`.
-- One row for the whole platform (experiment IS NULL) and at most one per
-- experiment (an override). A limit is a whole number and a unit: d(ays),
-- w(eeks), m(onths, calendar), y(ears, calendar), or 'forever'. NULL: the
-- global row keeps that kind forever; an override inherits the global limit.
-- Audit limits are global only. Not in the CDC publication: the limits are
-- applied by `retention apply` itself, on both sides.
CREATE TABLE retention_settings (
	experiment text REFERENCES experiments (key) ON DELETE CASCADE ON UPDATE CASCADE,
	-- '' for the global row, else the experiment: one row per scope
	scope text GENERATED ALWAYS AS (COALESCE(experiment, '')) STORED PRIMARY KEY,
	events text CHECK (events ~ '^([1-9][0-9]{0,5}[dwmy]|forever)$'),
	assignments text CHECK (assignments ~ '^([1-9][0-9]{0,5}[dwmy]|forever)$'),
	audit text CHECK (audit ~ '^([1-9][0-9]{0,5}[dwmy]|forever)$'),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (experiment IS NULL OR audit IS NULL)
);

-- changes of the limits and every application are audited
ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check
	CHECK (entity IN ('experiment', 'metric', 'assignment', 'token', 'saved_group', 'retention'));
