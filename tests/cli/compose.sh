# compose.sh — docker-compose.yml is valid, binds only loopback, and the
# Debezium connector config is valid JSON naming the NeonBlue tables.
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

t_run compose_config_valid 0 docker-compose -f docker-compose.yml config -q
out=$(docker-compose -f docker-compose.yml config 2>/dev/null)
# every published port is bound to 127.0.0.1
bad=$(echo "$out" | grep -E '^\s+- (published|"?[0-9]+:[0-9]+)' | grep -v 127.0.0.1 || true)
pub=$(echo "$out" | grep -cE 'host_ip: 127.0.0.1|127\.0\.0\.1:[0-9]+:[0-9]+')
t_eq compose_ports_loopback_only "$bad" ""
t_match compose_has_published_ports "$pub" '^[1-9]'
t_run compose_profiles_valid 0 docker-compose -f docker-compose.yml --profile debezium --profile relay config -q
# CDC is chosen by profile: Debezium's services and the relay never run by default
# (Debian's python3 has PyYAML: docker-compose depends on it)
dflt=$(/usr/bin/python3 -c 'import yaml; d = yaml.safe_load(open("docker-compose.yml"))
print(" ".join(sorted(k for k, v in d["services"].items() if not v.get("profiles"))))')
t_eq compose_default_services "$dflt" "clickhouse kafka migrate postgres serve sink"
relay=$(/usr/bin/python3 -c 'import yaml; d = yaml.safe_load(open("docker-compose.yml"))
print(d["services"]["relay"]["profiles"], d["services"]["connect"]["profiles"])')
t_eq compose_cdc_profiles "$relay" "['relay'] ['debezium']"
deb=$(docker-compose -f docker-compose.yml --profile debezium config --services 2>/dev/null | grep -c -E '^(publication|connect|connect-init)$')
t_eq compose_debezium_profile "$deb" 3
t_match compose_debezium_publication_root "$(docker-compose -f docker-compose.yml --profile debezium config 2>/dev/null)" 'CREATE PUBLICATION neonblue_debezium.*publish_via_partition_root = true'
# ClickHouse: an exact release (not a moving branch tag), and NeonBlue's URL
# carries the user the image creates (its `default` user is local-only)
ch=$(/usr/bin/python3 -c 'import yaml; d = yaml.safe_load(open("docker-compose.yml"))
c = d["services"]["clickhouse"]
print(c["image"], c["environment"]["CLICKHOUSE_USER"], d["x-neonblue-env"]["NEONBLUE_CLICKHOUSE"])')
t_match compose_clickhouse_pinned "$ch" '^clickhouse/clickhouse-server:[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ '
t_match compose_clickhouse_user "$ch" ' neonblue http://neonblue:[^@]+@clickhouse:8123$'
t_run connector_json_valid 0 python3 -c '
import json,sys
c=json.load(open("deploy/debezium-connector.json"))
assert c["plugin.name"]=="pgoutput" and c["topic.prefix"]=="neonblue", c
assert "public.events" in c["table.include.list"]
assert c["publication.name"]=="neonblue_debezium" and c["publication.autocreate.mode"]=="disabled"
assert c["database.password"]=="@NEONBLUE_PG_PASSWORD@", "no password in the file"
assert c["skipped.operations"]=="none", "truncates must be emitted (docs/operations.md)"
keys=dict(e.split(":") for e in c["message.key.columns"].split(";"))
assert keys=={"public.events":"user_id","public.assignments":"user_id"}, keys'
# profile "cluster": topics with 3 partitions, made before sink2 joins the sinks' group
t_run compose_cluster_valid 0 docker-compose -f docker-compose.yml --profile cluster config -q
cl=$(docker-compose -f docker-compose.yml --profile cluster config 2>/dev/null | /usr/bin/python3 -c '
import re, sys, yaml
d = yaml.safe_load(sys.stdin)["services"]
t, s2, s1 = d["kafka-topics"], d["sink2"], d["sink"]
cmd = " ".join(t["command"])
tables = re.search(r"for t in ([a-z_ ]+);", cmd).group(1).split()
print("tables:", sorted(tables), "dlq:", "--topic neonblue.dlq" in cmd,
      "partitions:", cmd.count("--partitions $${NEONBLUE_PARTITIONS:-3}"),
      "group:", s2["command"], "default group:", s1["command"],
      "after topics:", s2["depends_on"]["kafka-topics"]["condition"],
      "profiles:", t["profiles"], s2["profiles"], s1.get("profiles"))')
t_eq compose_cluster_topics "$cl" "tables: ['assignments', 'audit_log', 'events', 'experiment_metrics', 'experiments', 'metrics', 'variants'] dlq: True partitions: 3 group: ['sink', '--group', 'neonblue-sink'] default group: ['sink'] after topics: service_completed_successfully profiles: ['cluster'] ['cluster'] None"
# profile "cluster": a second ClickHouse shard over ClickHouse Keeper, both
# nodes with the cluster's config.d (two shards, internal replication, this
# node's macros from its environment) and the insert_distributed_sync profile
cc=$(docker-compose -f docker-compose.yml --profile cluster config 2>/dev/null | /usr/bin/python3 -c '
import sys, yaml, xml.etree.ElementTree as ET
d = yaml.safe_load(sys.stdin)["services"]
out = []
for n in ("clickhouse", "clickhouse-2"):
    c = d[n]
    e = c["environment"]
    mounts = sorted(v.split(":")[1] for v in c["volumes"] if "deploy/clickhouse-cluster" in v)
    out.append("%s: shard %s %s %s %s" % (n, e["NEONBLUE_CH_SHARD"], e["NEONBLUE_CH_REPLICA_ALL"],
                                         c["image"] == d["clickhouse"]["image"], mounts))
k = d["keeper"]
out.append("keeper: %s %s %s" % (k["entrypoint"][:2], k["profiles"], d["clickhouse-2"]["profiles"]))
x = ET.parse("deploy/clickhouse-cluster/cluster.xml").getroot()
shards = x.findall("remote_servers/neonblue/shard")
out.append("shards: " + " ".join(s.find("replica/host").text + "/" + s.find("internal_replication").text for s in shards))
out.append("keeper at: " + x.find("zookeeper/node/host").text + ":" + x.find("zookeeper/node/port").text)
out.append("macros: " + " ".join(m.tag + "=" + m.get("from_env") for m in x.find("macros")))
p = ET.parse("deploy/clickhouse-cluster/profile.xml").getroot()
out.append("sync: " + p.find("profiles/default/insert_distributed_sync").text)
kx = ET.parse("deploy/clickhouse-cluster/keeper.xml").getroot()
out.append("keeper port: " + kx.find("keeper_server/tcp_port").text)
print("; ".join(out))')
t_eq compose_cluster_clickhouse "$cc" "clickhouse: shard 1 s1r1 True ['/etc/clickhouse-server/config.d/neonblue-cluster.xml', '/etc/clickhouse-server/users.d/neonblue-profile.xml']; clickhouse-2: shard 2 s2r1 True ['/etc/clickhouse-server/config.d/neonblue-cluster.xml', '/etc/clickhouse-server/users.d/neonblue-profile.xml']; keeper: ['clickhouse', 'keeper'] ['cluster'] ['cluster']; shards: clickhouse/true clickhouse-2/true; keeper at: keeper:9181; macros: shard=NEONBLUE_CH_SHARD replica=NEONBLUE_CH_REPLICA replica_all=NEONBLUE_CH_REPLICA_ALL; sync: 1; keeper port: 9181"
# NeonBlue's processes name the cluster only when asked (one node by default)
envs() { /usr/bin/python3 -c 'import sys, yaml
d = yaml.safe_load(sys.stdin)["services"]
print(sorted(set(v["environment"]["NEONBLUE_CLICKHOUSE_CLUSTER"] for v in d.values() if "NEONBLUE_PG" in v.get("environment", {}))))'; }
t_eq compose_cluster_env_default "$(docker-compose -f docker-compose.yml --profile cluster config 2>/dev/null | envs)" "['']"
t_match compose_cluster_env_set "$(NEONBLUE_CLICKHOUSE_CLUSTER=neonblue docker-compose -f docker-compose.yml --profile cluster config 2>/dev/null)" "NEONBLUE_CLICKHOUSE_CLUSTER: neonblue"
t_done
