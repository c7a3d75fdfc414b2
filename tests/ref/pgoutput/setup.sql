-- setup.sql — extra tables for the pgoutput recording (besides 001_init.sql).
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE types (
	id int PRIMARY KEY, b bool, i2 int2, i8 int8, f4 float4, f8 float8, num numeric,
	t text, vc varchar(10), d date, tm time, ts timestamp, tstz timestamptz,
	j json, jb jsonb, u uuid, by bytea, m mood, arr text[]
);
CREATE TABLE toasty (id int PRIMARY KEY, small text, big text);
ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE PUBLICATION rec FOR TABLE experiments, variants, metrics, experiment_metrics,
	assignments, events, audit_log, types, toasty, nokey
	WITH (publish_via_partition_root = true);
SELECT pg_replication_origin_create('nb_origin');
