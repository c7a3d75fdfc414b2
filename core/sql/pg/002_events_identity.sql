-- 002_events_identity.sql — deleted events carry their whole row into the
-- change stream (REPLICA IDENTITY FULL), so ClickHouse knows whose event it
-- was: the per-user rollup (core/sql/ch/002_rollup.sql) files a delete under
-- its user. PostgreSQL does not pass a partitioned table's replica identity
-- on to its partitions: every partition gets it here, and partitions made
-- later get it from neonblue_ensure_event_partitions, which now wraps the
-- first version. The CDC relay keys such rows by the primary key.

ALTER TABLE events REPLICA IDENTITY FULL;

CREATE FUNCTION neonblue_events_identity() RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
	part regclass;
	n integer := 0;
BEGIN
	FOR part IN
		SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'public.events'::regclass AND c.relreplident <> 'f'
	LOOP
		EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', part);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$fn$;

SELECT neonblue_events_identity();

ALTER FUNCTION neonblue_ensure_event_partitions(timestamptz, timestamptz)
	RENAME TO neonblue_ensure_event_partitions_v1;

CREATE FUNCTION neonblue_ensure_event_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
	created integer;
BEGIN
	created := neonblue_ensure_event_partitions_v1(p_from, p_to);
	IF created > 0 THEN
		PERFORM neonblue_events_identity();
	END IF;
	RETURN created;
END
$fn$;
