# ch.sh — a throwaway ClickHouse server for suites and benches that need one of
# their own (not the embedded stack's). Source it, set W (a work dir),
# CH_HTTP and CH_TCP (free ports), then call ch_start; the server's files are
# under $W/ch and its pid in $W/ch/ch.pid. Runs as user clickhouse when root.
# ch_stop stops it (SIGTERM, then SIGKILL after 10 s); ch_start starts it again.
# ch_cluster_start N: a cluster of N shards and ZooKeeper (below).
# ch_schema URL DB: database DB on the server at URL with the production
# schema (every core/sql/ch file, the rollup's tables and views included).
as_ch() { if [ "$(id -u)" = 0 ]; then runuser -u clickhouse -- "$@"; else "$@"; fi; }
ch_start() { ch_node_start "$W/ch" "$CH_HTTP" "$CH_TCP"; }
ch_stop() { ch_node_stop "$W/ch"; }

# ch_node_start DIR HTTP_PORT TCP_PORT [XML]: a server with its files under
# DIR, XML added to its config.xml.
ch_node_start() {
	local d=$1 http=$2 tcp=$3 extra=${4:-}
	mkdir -p "$d"/{data,tmp,log,user_files}
	cat >"$d/config.xml" <<X
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/log/ch.log</log><errorlog>$d/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$http</http_port><tcp_port>$tcp</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>$d/data/</path><tmp_path>$d/tmp/</tmp_path><user_files_path>$d/user_files/</user_files_path>
  <users_config>$d/users.xml</users_config><default_profile>default</default_profile>
  <default_database>default</default_database><timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
$extra
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
		curl -sf "http://127.0.0.1:$http/ping" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$d/log/err.log" >&2
	return 1
}

ch_node_stop() {
	local p
	p=$(cat "$1/ch.pid" 2>/dev/null) || return 0
	kill "$p" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	rm -f "$1/ch.pid"
}

# ch_cluster_start N: cluster "nbc" of N shards of one replica each under
# $W/cl (servers chN, ZooKeeper zk as user zookeeper when root, for the
# DDL queue and the Replicated tables); sets CL_URLS (every node's HTTP URL,
# comma separated) and CL_URL (the first). ch_cluster_stop stops it.
ch_cluster_start() {
	local n=$1 i shards="" zp
	zp=$(t_free_port)
	local -a http tcp
	for i in $(seq 1 "$n"); do
		http[i]=$(t_free_port)
		tcp[i]=$(t_free_port)
		shards="$shards<shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>${tcp[i]}</port></replica></shard>"
	done
	mkdir -p "$W/cl/zk/data"
	printf 'tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n' \
		"$W/cl/zk/data" "$zp" >"$W/cl/zk/zoo.cfg"
	local zu=()
	[ "$(id -u)" = 0 ] && { chown -R zookeeper: "$W/cl/zk"; zu=(runuser -u zookeeper --); }
	(cd "$W/cl/zk" && exec "${zu[@]}" java -Xmx256m -Dzookeeper.log.dir="$W/cl/zk" \
		-cp "/usr/share/java/*:/usr/share/zookeeper/lib/*:/etc/zookeeper/conf" \
		org.apache.zookeeper.server.quorum.QuorumPeerMain "$W/cl/zk/zoo.cfg" >"$W/cl/zk/out.log" 2>&1) &
	echo $! >"$W/cl/zk/pid"
	CL_URLS=""
	for i in $(seq 1 "$n"); do
		ch_node_start "$W/cl/ch$i" "${http[i]}" "${tcp[i]}" "<interserver_http_port>$(t_free_port)</interserver_http_port><interserver_http_host>127.0.0.1</interserver_http_host>
  <remote_servers><nbc>$shards</nbc></remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>$zp</port></node></zookeeper>
  <macros><shard>$i</shard><replica>r1</replica><replica_all>s${i}r1</replica_all></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>" || return 1
		CL_URLS="$CL_URLS${CL_URLS:+,}http://127.0.0.1:${http[i]}"
	done
	CL_URL=${CL_URLS%%,*}
	# ready once ZooKeeper answers the servers
	for _ in $(seq 1 200); do
		curl -sf "$CL_URL" --data-binary "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "ZooKeeper did not answer: $(tail -5 "$W/cl/zk/out.log")" >&2
	return 1
}

ch_cluster_stop() {
	local d
	for d in "$W"/cl/ch*; do [ -d "$d" ] && ch_node_stop "$d"; done
	[ -f "$W/cl/zk/pid" ] && kill "$(cat "$W/cl/zk/pid")" 2>/dev/null
	rm -f "$W/cl/zk/pid"
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
