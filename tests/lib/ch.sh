# ch.sh — a throwaway ClickHouse server for suites and benches that need one of
# their own (not the embedded stack's). Source it, set W (a work dir),
# CH_HTTP and CH_TCP (free ports), then call ch_start; the server's files are
# under $W/ch and its pid in $W/ch/ch.pid. Runs as user clickhouse when root.
# ch_stop stops it (SIGTERM, then SIGKILL after 10 s); ch_start starts it again.
# ch_schema URL DB: database DB on the server at URL with the production
# schema (every core/sql/ch file, the rollup's tables and views included).
as_ch() { if [ "$(id -u)" = 0 ]; then runuser -u clickhouse -- "$@"; else "$@"; fi; }
ch_start() {
	local d=$W/ch
	mkdir -p "$d"/{data,tmp,log,user_files}
	cat >"$d/config.xml" <<X
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/log/ch.log</log><errorlog>$d/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$CH_HTTP</http_port><tcp_port>$CH_TCP</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>$d/data/</path><tmp_path>$d/tmp/</tmp_path><user_files_path>$d/user_files/</user_files_path>
  <users_config>$d/users.xml</users_config><default_profile>default</default_profile>
  <default_database>default</default_database><timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
X
	cat >"$d/users.xml" <<X
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
X
	[ "$(id -u)" = 0 ] && chown -R clickhouse: "$d"
	as_ch clickhouse-server --config-file="$d/config.xml" --pid-file="$d/ch.pid" --daemon
	for _ in $(seq 1 150); do
		curl -sf "http://127.0.0.1:$CH_HTTP/ping" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$d/log/err.log" >&2
	return 1
}

ch_stop() {
	local p
	p=$(cat "$W/ch/ch.pid" 2>/dev/null) || return 0
	kill "$p" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	rm -f "$W/ch/ch.pid"
}

ch_schema() {
	local url=$1 db=$2 stmt
	curl -sS --fail-with-body "$url" --data-binary "CREATE DATABASE $db" >/dev/null || return 1
	cat core/sql/ch/*.sql | sed "s/neonblue\./$db./g" | python3 -c '
import sys
lines = [l for l in sys.stdin.read().splitlines() if not l.lstrip().startswith("--")]
for stmt in "\n".join(lines).split(";"):
    if stmt.strip():
        print(stmt.strip().replace("\n", " "))' | while IFS= read -r stmt; do
		curl -sS --fail-with-body "$url" --data-binary "$stmt" >/dev/null || echo "schema: $stmt"
	done
}
