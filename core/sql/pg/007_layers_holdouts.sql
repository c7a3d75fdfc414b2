-- 007_layers_holdouts.sql — layers (mutually exclusive experiments) and
-- holdouts (docs/layers.md).
--
-- A layer is a GrowthBook namespace given a name: an experiment whose
-- namespace_id is a layer's key occupies [namespace_start, namespace_end) of
-- it, and the ranges of a layer's live experiments (every status but stopped
-- and archived) may not overlap: the trigger below refuses the write naming
-- the experiment in the way. A namespace that is not a layer keeps the old
-- rules (any ranges).
CREATE TABLE layers (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
	name text NOT NULL DEFAULT '',
	description text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION neonblue_layer_overlap() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
	o record;
BEGIN
	IF NEW.namespace_id IS NULL OR NEW.status IN ('stopped', 'archived') THEN
		RETURN NEW;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM layers WHERE key = NEW.namespace_id) THEN
		RETURN NEW;
	END IF;
	-- one writer per layer at a time, so two overlapping writes cannot both pass
	PERFORM pg_advisory_xact_lock(hashtext('neonblue_layer:' || NEW.namespace_id));
	SELECT key, namespace_start, namespace_end INTO o FROM experiments
	WHERE namespace_id = NEW.namespace_id AND key <> NEW.key
	  AND status NOT IN ('stopped', 'archived')
	  AND namespace_start < NEW.namespace_end AND NEW.namespace_start < namespace_end
	ORDER BY namespace_start, key LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = format('range [%s, %s) of experiment "%s" in layer "%s" overlaps experiment "%s" [%s, %s)',
					 NEW.namespace_start, NEW.namespace_end, NEW.key, NEW.namespace_id,
					 o.key, o.namespace_start, o.namespace_end);
	END IF;
	RETURN NEW;
END
$fn$;

CREATE TRIGGER experiments_layer_overlap
	BEFORE INSERT OR UPDATE OF namespace_id, namespace_start, namespace_end, status
	ON experiments FOR EACH ROW EXECUTE FUNCTION neonblue_layer_overlap();

-- A holdout is backed by an experiment of the same key with two variants,
-- "holdout" (weight percent/100, first) and "general" (the control), hash
-- version 2, coverage 1, running from its creation: a user is in the holdout
-- when hash(seed, user, 2) < percent/100. Its members are stored as that
-- experiment's assignments (every user who reaches an experiment naming the
-- holdout), so the holdout's report is that experiment's report.
CREATE TABLE holdouts (
	key text PRIMARY KEY REFERENCES experiments (key) ON DELETE CASCADE ON UPDATE CASCADE,
	percent double precision NOT NULL CHECK (percent > 0 AND percent < 100),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- The holdout an experiment names: its users in the holdout get no variant.
ALTER TABLE experiments ADD COLUMN holdout text REFERENCES holdouts (key) ON UPDATE CASCADE,
	ADD CHECK (holdout IS NULL OR holdout <> key);

-- Layers and holdouts are audited: the entity check gains them, keeping
-- whatever entities earlier migrations added (read back from the catalog).
DO $do$
DECLARE
	def text;
BEGIN
	SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
	WHERE conrelid = 'public.audit_log'::regclass AND conname = 'audit_log_entity_check';
	IF def IS NULL OR position('ARRAY[' IN def) = 0 THEN
		RAISE EXCEPTION '007: unexpected audit_log_entity_check: %', def;
	END IF;
	EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check';
	EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check '
		|| replace(def, 'ARRAY[', 'ARRAY[''layer''::text, ''holdout''::text, ');
END
$do$;
