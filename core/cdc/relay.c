/* cdc/relay.c — the relay's loop: sessions with backoff, the stream read
 * loop and its periodic duties, tying the PostgreSQL side (cdc/replication.c)
 * to the Kafka side (cdc/publish.c). */
#include "internal.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -------------------------------------------------------------- streaming */

static int snapshot_mark_check(cdc *c, nb_err *err);

/* Periodic duties between reads; returns -1 when the session must end. */
static int housekeeping(cdc *c, nb_err *err)
{
	rd_kafka_poll(c->rk, 0);
	if (c->kafka_failed)
		return nb_err_set(err, NB_ESERVER, "%s", c->kafka_why);
	if (c->kafka_down && rd_kafka_outq_len(c->rk) == 0)
		c->kafka_down = 0;
	if (c->embedded)
		cdc_read_progress(c);
	cdc_advance(c);
	cdc_heartbeat(c);
	int64_t now = cdc_now_ms();
	if (now - c->last_status_ms >= c->o->status_interval_ms ||
	    (c->confirmed_lsn > c->sent_lsn && now - c->last_status_ms >= 200))
		if (cdc_send_status(c, 0, err))
			return -1;
	cdc_write_status_file(c);
	return snapshot_mark_check(c, err);
}

static int stream(cdc *c, nb_err *err)
{
	txinfo ti = {0, 0};
	int sock = PQsocket(c->repl);
	while (!*c->stop) {
		if (housekeeping(c, err))
			return -1;
		if (cdc_window_full(c)) {
			usleep(20000);
			continue;
		}
		if (!c->waiting_since && !c->kafka_down)
			cdc_set_state(c, "streaming from slot %s", c->slot);
		int n = 0, got = 0;
		char *buf = NULL;
		while (got < 2000 && (n = PQgetCopyData(c->repl, &buf, 1)) > 0) {
			int rc = 0;
			if (buf[0] == 'w')
				rc = cdc_on_xlogdata(c, buf, n, &ti, err);
			else if (buf[0] == 'k')
				rc = cdc_on_keepalive(c, buf, n, err);
			PQfreemem(buf);
			if (rc)
				return -1;
			got++;
		}
		if (n == -2)
			return cdc_pg_fail(err, c->repl, "replication stream");
		if (n == -1) {
			PQclear(PQgetResult(c->repl));
			return nb_err_set(err, NB_ESERVER,
					  "PostgreSQL ended the replication stream");
		}
		if (got == 2000)
			continue;
		/* Drained. After a busy read let the socket fill for a moment: one
		 * big read beats one small packet per message (ARCHITECTURE.md). */
		if (got) {
			usleep(1000);
		} else {
			struct pollfd pfd = {sock, POLLIN, 0};
			poll(&pfd, 1, 50);
		}
		if (!PQconsumeInput(c->repl))
			return cdc_pg_fail(err, c->repl, "replication stream");
	}
	return 0;
}

/* --------------------------------------------------------------- sessions */

static void session_end(cdc *c, int clean)
{
	/* Let Kafka acknowledge what it has, confirm it, then drop the rest:
	 * unconfirmed changes come again from the slot. */
	if (c->rk) {
		int64_t until = cdc_now_ms() + (clean ? 30000 : 5000);
		while (rd_kafka_outq_len(c->rk) > 0 && cdc_now_ms() < until && !c->kafka_failed)
			rd_kafka_poll(c->rk, 50);
		cdc_advance(c);
	}
	nb_err e;
	if (c->sql && PQstatus(c->sql) == CONNECTION_OK)
		snapshot_mark_check(c, &e);
	if (c->repl && PQstatus(c->repl) == CONNECTION_OK && c->confirmed_lsn > c->sent_lsn &&
	    !cdc_send_status(c, 0, &e)) {
		char l[32];
		cdc_log(c, "confirmed %s to PostgreSQL", cdc_lsn_str(c->confirmed_lsn, l));
	}
	if (c->repl && clean) {
		PQputCopyEnd(c->repl, NULL);
		PQflush(c->repl);
	}
	int lost = c->rk && (rd_kafka_outq_len(c->rk) > 0 || c->kafka_failed);
	if (lost || !clean)
		cdc_producer_close(c, 0);
	if (c->kafka_failed)
		cdc_tps_clear(c); /* whatever Kafka held is replayed from the slot */
	cdc_txs_free(c);
	PQfinish(c->repl);
	PQfinish(c->sql);
	c->repl = c->sql = NULL;
	nb_pgoutput_done(&c->dec);
	nb_pgoutput_init(&c->dec);
	cdc_pks_free(c); /* tables may have changed while we were away */
}

static int session(cdc *c, nb_err *err)
{
	cdc_set_state(c, "connecting to PostgreSQL");
	c->sql = cdc_pg_connect(c->o->pg, 0, err);
	if (!c->sql)
		return -1;
	snprintf(c->dbname, sizeof c->dbname, "%s", PQdb(c->sql));
	if (cdc_ensure_publication(c, err))
		return -1;
	c->repl = cdc_pg_connect(c->o->pg, 1, err);
	if (!c->repl || cdc_producer_open(c, err))
		return -1;
	int usable = cdc_slot_usable(c, err);
	if (usable < 0)
		return -1;
	if (!usable && cdc_create_slot(c, err))
		return -1;
	if (cdc_start_replication(c, err))
		return -1;
	c->last_status_ms = 0;
	return stream(c, err);
}

/* Also advances the snapshot mark while streaming. */
static int snapshot_mark_check(cdc *c, nb_err *err)
{
	if (c->snapshot_pending && c->sql && cdc_snapshot_safe(c))
		return cdc_mark_snapshot_done(c, err);
	return 0;
}

static void sleep_ms(volatile sig_atomic_t *stop, int ms)
{
	for (int t = 0; t < ms && !*stop; t += 50)
		usleep(50000);
}

int nb_cdc_run(const nb_cdc_opts *o, volatile sig_atomic_t *stop, nb_err *err)
{
	if (!o->pg || !o->kafka)
		return nb_err_set(err, NB_EINPUT, "the relay needs PostgreSQL and Kafka endpoints");
	nb_cdc_opts opts = *o;
	if (opts.window_msgs <= 0)
		opts.window_msgs = 20000;
	if (opts.window_bytes <= 0)
		opts.window_bytes = 3L << 20;
	if (opts.status_interval_ms <= 0)
		opts.status_interval_ms = 10000;
	cdc c;
	memset(&c, 0, sizeof c);
	c.o = &opts;
	c.stop = stop;
	c.prefix = o->prefix && *o->prefix ? o->prefix : "neonblue";
	c.slot = o->slot && *o->slot ? o->slot : "neonblue_cdc";
	c.pub = o->publication && *o->publication ? o->publication : "neonblue";
	c.embedded = o->clickhouse && *o->clickhouse;
	c.waiting = cdc_status_if_due;
	nb_pgoutput_init(&c.dec);
	nb_change_init(&c.ch);
	int backoff = 500, rc = 0;
	while (!*stop) {
		int64_t started = cdc_now_ms();
		nb_err e = {0};
		rc = session(&c, &e);
		session_end(&c, rc == 0);
		if (rc == 0)
			break;
		if (e.code == NB_EINPUT) {
			*err = e;
			break;
		}
		if (cdc_now_ms() - started > 30000)
			backoff = 500;
		cdc_set_state(&c, "%s; retrying in %.1f s", e.msg, backoff / 1000.0);
		cdc_write_status_file(&c);
		sleep_ms(stop, backoff);
		backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
		rc = 0;
	}
	if (c.rk)
		cdc_producer_close(&c, 30000);
	char l[32];
	cdc_log(&c, "stopped; %" PRIu64 " changes, %" PRIu64 " messages, confirmed %s", c.changes,
		c.messages, cdc_lsn_str(c.confirmed_lsn, l));
	nb_change_done(&c.ch);
	nb_pgoutput_done(&c.dec);
	for (int i = 0; i < c.ntps; i++) {
		free(c.tps[i].topic);
		free(c.tps[i].q);
	}
	free(c.tps);
	return rc ? -1 : 0;
}
