-- stream.sql — the recorded workload; each statement is its own transaction
-- unless grouped. Expected decodes are asserted in tests/unit/test_pgoutput.c.
-- 1: insert of every type (Relation, Type for the enum, Insert)
INSERT INTO types VALUES (1, true, -2, 9007199254740993, 1.5, -0.25, 12.3400,
	'tab	"quote"', 'vc', '2026-11-27', '13:45:10.25', '2026-11-27 05:31:55.000001',
	'2026-11-27 06:31:55.123456+01', '{"a": [1, 2]}', '{"b": true}',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10', 'happy', '{x,"y z"}');
-- 2: NULLs
INSERT INTO types (id) VALUES (2);
-- 3: one transaction: experiment (REPLICA IDENTITY FULL) insert + update + variant
BEGIN;
INSERT INTO experiments (key, name, seed) VALUES ('exp-1', 'First', 's1');
UPDATE experiments SET status = 'running', version = 2 WHERE key = 'exp-1';
INSERT INTO variants (experiment, key, name, weight, is_control, position)
	VALUES ('exp-1', 'control', 'Control', 0.5, true, 0);
COMMIT;
-- 4: events through the partitioned root
SELECT neonblue_ensure_event_partitions('2026-11-01', '2026-11-30');
INSERT INTO events VALUES ('6f1c0a2e-2d55-4b8e-9a0e-0c6b5e5d2a01', 'u1', 'click',
	'2026-11-27 05:00:00+00', 2.5, '{"page": "/"}', 'exp-1');
-- 5: assignment insert, then key-changing update (old tuple 'K'), then delete
INSERT INTO assignments (experiment, user_id, variant, experiment_version)
	VALUES ('exp-1', 'u1', 'control', 2);
UPDATE assignments SET user_id = 'u2' WHERE user_id = 'u1';
DELETE FROM assignments WHERE user_id = 'u2';
-- 6: TOAST: big value, then an update that leaves it unchanged ('u')
INSERT INTO toasty VALUES (1, 'a', repeat('0123456789', 1000));
UPDATE toasty SET small = 'b' WHERE id = 1;
-- 7: REPLICA IDENTITY FULL without key: update and delete carry 'O'
INSERT INTO nokey VALUES (1, 'one');
UPDATE nokey SET b = 'uno' WHERE a = 1;
DELETE FROM nokey WHERE a = 1;
-- 8: truncate of two tables
TRUNCATE toasty, nokey;
-- 9: a transaction with a replication origin (Origin message)
SELECT pg_replication_origin_session_setup('nb_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2026-11-27 05:00:00+00');
INSERT INTO types (id, t) VALUES (3, 'from origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
