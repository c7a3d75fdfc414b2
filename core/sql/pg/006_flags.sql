-- 006_flags.sql — feature flags (docs/flags.md, core/flag/).
--
-- A flag: key, type, default value, on/off, and its ordered rules as one JSON
-- array (force {condition, value}, rollout {condition, coverage,
-- hash_attribute, seed, hash_version, holdout, value}, experiment
-- {condition, experiment, variations: {variant key: value}}). The library
-- validates the rules (naming the rule index and field); the checks below
-- keep the shape whatever writes the row. Audited like experiments
-- (audit_log entity 'flag'). A flag off serves its default value to everyone.
--
-- Written to run before or after 007 (an existing database gets 006 after
-- 007): the audit entity check is extended from what the catalog holds.
CREATE TABLE flags (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
	type text NOT NULL CHECK (type IN ('boolean', 'string', 'number', 'json')),
	description text NOT NULL DEFAULT '',
	default_value jsonb NOT NULL,
	enabled boolean NOT NULL DEFAULT false,
	rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
	version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (type = 'json'
	       OR jsonb_typeof(default_value) = CASE type WHEN 'boolean' THEN 'boolean'
							  WHEN 'string' THEN 'string'
							  ELSE 'number' END)
);
ALTER TABLE flags REPLICA IDENTITY FULL;

-- A flag and an experiment never share a key (both become GrowthBook
-- features of the same name in the SDK payload).
CREATE FUNCTION neonblue_flag_key_free() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('neonblue_key:' || NEW.key));
	IF TG_TABLE_NAME = 'flags' THEN
		IF EXISTS (SELECT 1 FROM experiments WHERE key = NEW.key) THEN
			RAISE EXCEPTION USING ERRCODE = 'unique_violation',
				MESSAGE = format('key "%s" is an experiment''s: a flag needs another key', NEW.key);
		END IF;
	ELSIF EXISTS (SELECT 1 FROM flags WHERE key = NEW.key) THEN
		RAISE EXCEPTION USING ERRCODE = 'unique_violation',
			MESSAGE = format('key "%s" is a flag''s: an experiment needs another key', NEW.key);
	END IF;
	RETURN NEW;
END
$fn$;

CREATE TRIGGER flags_key_free BEFORE INSERT OR UPDATE OF key ON flags
	FOR EACH ROW EXECUTE FUNCTION neonblue_flag_key_free();
CREATE TRIGGER experiments_key_free BEFORE INSERT OR UPDATE OF key ON experiments
	FOR EACH ROW EXECUTE FUNCTION neonblue_flag_key_free();

DO $do$
DECLARE
	def text;
BEGIN
	SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
	WHERE conrelid = 'public.audit_log'::regclass AND conname = 'audit_log_entity_check';
	IF def IS NULL OR position('ARRAY[' IN def) = 0 THEN
		RAISE EXCEPTION '006: unexpected audit_log_entity_check: %', def;
	END IF;
	EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check';
	EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check '
		|| replace(def, 'ARRAY[', 'ARRAY[''flag''::text, ');
END
$do$;
