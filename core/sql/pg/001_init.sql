-- 001_init.sql — NeonBlue's PostgreSQL data model (schema public; see docs/schema.md).
-- Applied by nb_pg_migrate in one transaction, under an advisory lock.
-- Experiments and metrics are referenced by their slug key everywhere, so rows
-- that travel downstream (CDC → Kafka → ClickHouse) carry keys, not ids.

CREATE TABLE IF NOT EXISTS schema_migrations (
	name text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE experiments (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
	name text NOT NULL CHECK (name <> ''),
	description text NOT NULL DEFAULT '',
	hypothesis text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'draft'
		CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'archived')),
	seed text NOT NULL CHECK (seed <> ''),
	hash_version smallint NOT NULL DEFAULT 2 CHECK (hash_version IN (1, 2)),
	coverage double precision NOT NULL DEFAULT 1 CHECK (coverage >= 0 AND coverage <= 1),
	namespace_id text,
	namespace_start double precision,
	namespace_end double precision,
	condition jsonb CHECK (condition IS NULL OR jsonb_typeof(condition) = 'object'),
	owner text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	stopped_at timestamptz,
	version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
	CHECK ((namespace_id IS NULL AND namespace_start IS NULL AND namespace_end IS NULL)
	       OR (namespace_id IS NOT NULL AND namespace_start >= 0 AND namespace_end <= 1
		   AND namespace_start < namespace_end))
);
ALTER TABLE experiments REPLICA IDENTITY FULL;

CREATE TABLE variants (
	experiment text NOT NULL REFERENCES experiments (key) ON DELETE CASCADE ON UPDATE CASCADE,
	key text NOT NULL CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
	name text NOT NULL,
	weight double precision NOT NULL CHECK (weight > 0 AND weight <= 1),
	is_control boolean NOT NULL DEFAULT false,
	config jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
	position integer NOT NULL,
	PRIMARY KEY (experiment, key),
	UNIQUE (experiment, position)
);
CREATE UNIQUE INDEX variants_one_control ON variants (experiment) WHERE is_control;
ALTER TABLE variants REPLICA IDENTITY FULL;

CREATE TABLE metrics (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_-]{1,64}$'),
	name text NOT NULL CHECK (name <> ''),
	kind text NOT NULL CHECK (kind IN ('binomial', 'count', 'sum', 'mean', 'ratio')),
	event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1),
	value_property text,
	direction text NOT NULL DEFAULT 'increase' CHECK (direction IN ('increase', 'decrease')),
	winsorize double precision CHECK (winsorize IS NULL OR (winsorize > 0 AND winsorize <= 100)),
	description text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE metrics REPLICA IDENTITY FULL;

CREATE TABLE experiment_metrics (
	experiment text NOT NULL REFERENCES experiments (key) ON DELETE CASCADE ON UPDATE CASCADE,
	metric text NOT NULL REFERENCES metrics (key) ON UPDATE CASCADE,
	role text NOT NULL CHECK (role IN ('primary', 'secondary', 'guardrail')),
	position integer NOT NULL,
	PRIMARY KEY (experiment, metric)
);
CREATE INDEX experiment_metrics_metric ON experiment_metrics (metric);
ALTER TABLE experiment_metrics REPLICA IDENTITY FULL;

-- One row per (experiment, user): the sticky decision.
CREATE TABLE assignments (
	experiment text NOT NULL REFERENCES experiments (key) ON DELETE CASCADE ON UPDATE CASCADE,
	user_id text NOT NULL CHECK (user_id <> ''),
	variant text NOT NULL,
	assigned_at timestamptz NOT NULL DEFAULT now(),
	source text NOT NULL DEFAULT 'hash' CHECK (source IN ('hash', 'forced')),
	experiment_version integer NOT NULL,
	context jsonb,
	PRIMARY KEY (experiment, user_id)
);
ALTER TABLE assignments REPLICA IDENTITY DEFAULT;

-- Events, partitioned by month on ts. The primary key must include ts, so
-- uniqueness of event_id alone is the writers' job (look it up through the
-- event_id index before inserting). There is no default partition: writers
-- call neonblue_ensure_event_partitions(min ts, max ts) before writing.
CREATE TABLE events (
	event_id uuid NOT NULL,
	user_id text NOT NULL CHECK (user_id <> ''),
	type text NOT NULL CHECK (type <> ''),
	ts timestamptz NOT NULL,
	value double precision,
	properties jsonb,
	experiment text,
	PRIMARY KEY (event_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_user_ts ON events (user_id, ts);
ALTER TABLE events REPLICA IDENTITY DEFAULT;

-- Creates the missing monthly partitions events_yYYYYmMM covering [from, to]
-- (UTC months). Safe to call concurrently; returns how many it created.
CREATE FUNCTION neonblue_ensure_event_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
	m timestamp;
	last timestamp;
	part text;
	created integer := 0;
BEGIN
	IF p_from IS NULL OR p_to IS NULL THEN
		RAISE EXCEPTION 'neonblue_ensure_event_partitions: from and to must not be null';
	END IF;
	IF p_to < p_from THEN
		RAISE EXCEPTION 'neonblue_ensure_event_partitions: to (%) is before from (%)', p_to, p_from;
	END IF;
	m := date_trunc('month', p_from AT TIME ZONE 'UTC');
	last := date_trunc('month', p_to AT TIME ZONE 'UTC');
	IF last > m + interval '1200 months' THEN
		RAISE EXCEPTION 'neonblue_ensure_event_partitions: range % .. % spans more than 100 years',
			p_from, p_to;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('neonblue_event_partitions'));
	WHILE m <= last LOOP
		part := format('events_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
		IF to_regclass(format('public.%I', part)) IS NULL THEN
			EXECUTE format('CREATE TABLE public.%I PARTITION OF public.events '
				       'FOR VALUES FROM (%L) TO (%L)', part,
				       (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
			EXECUTE format('ALTER TABLE public.%I REPLICA IDENTITY DEFAULT', part);
			created := created + 1;
		END IF;
		m := m + interval '1 month';
	END LOOP;
	RETURN created;
END
$fn$;

SELECT neonblue_ensure_event_partitions(now() - interval '3 months', now() + interval '3 months');

-- Every create/update/state change/delete, written in the change's transaction.
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL,
	entity text NOT NULL CHECK (entity IN ('experiment', 'metric', 'assignment')),
	key text NOT NULL,
	before jsonb,
	after jsonb
);
CREATE INDEX audit_log_entity_key ON audit_log (entity, key, id);
ALTER TABLE audit_log REPLICA IDENTITY DEFAULT;
