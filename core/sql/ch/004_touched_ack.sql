-- 004_touched_ack.sql — the rollup's touched stamps taken after a write was
-- acknowledged, so its exactness depends on no materialized-view execution
-- order (docs/analytics.md, "Why it stays exact"). Must run on ClickHouse
-- 18.16 and current releases.
--
-- 002's touched_events_mv stamps a user while the insert into events is
-- still running: on 18.16 after events_by_user_mv only because 18.16 runs a
-- table's views in name order, and current releases document no order and
-- no atomicity between a table and its views (an insert in progress may be
-- seen in the views before the table, or the other way round). Those stamps
-- stay (every writer gets them, and an early stamp costs only a
-- recomputation) but exactness rests on these: a writer whose INSERT into
-- events or assignments was acknowledged — which means, on both versions,
-- that the table and every view, events_by_user included, hold the rows —
-- then inserts the user ids into touched_ack, and touched_ack_mv stamps them
-- with ClickHouse's now(), taken after the rows were visible. `neonblue
-- sink` does this for every batch before it records its progress.
--
-- touched_ack stores nothing (Null engine); its one view writes `touched`.
-- A view on events_by_user would not do: 18.16 fires the views of a view's
-- target table only for direct inserts into it (tested in
-- tests/integration/chorder.sh).

CREATE TABLE IF NOT EXISTS neonblue.touched_ack (
	user_id String
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS neonblue.touched_ack_mv TO neonblue.touched
AS SELECT now() AS at, user_id FROM neonblue.touched_ack;
