"""mock_kafka.py BOOTFILE PARTITIONS [TOPIC ...] — a librdkafka mock cluster
(one broker) for the sink's tests and benches, with each TOPIC (default
neonblue.public.events) of PARTITIONS partitions. Writes its bootstrap
address to BOOTFILE once it listens. SIGUSR1 makes the topics' partitions
leader-less (consumers can join their group but fetch nothing), SIGUSR2 gives
them their leader back; each writes BOOTFILE.leaders ("off" / "on") once
done. SIGTERM ends it."""
import ctypes, os, signal, sys, time

rk = ctypes.CDLL("librdkafka.so.1")
rk.rd_kafka_conf_new.restype = ctypes.c_void_p
rk.rd_kafka_new.restype = ctypes.c_void_p
rk.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
rk.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
rk.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
rk.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
rk.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
rk.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
rk.rd_kafka_mock_partition_set_leader.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
boot, parts = sys.argv[1], int(sys.argv[2])
topics = [t.encode() for t in sys.argv[3:]] or [b"neonblue.public.events"]
err = ctypes.create_string_buffer(512)
h = rk.rd_kafka_new(0, rk.rd_kafka_conf_new(), err, 512)
mc = rk.rd_kafka_mock_cluster_new(h, 1)
for t in topics:
    rk.rd_kafka_mock_topic_create(mc, t, parts, 1)
want = []  # leader changes asked by the signal handlers, applied by the loop


def leaders(broker, state):
    for t in topics:
        for p in range(parts):
            rk.rd_kafka_mock_partition_set_leader(mc, t, p, broker)
    with open(boot + ".leaders.tmp", "w") as f:
        f.write(state)
    os.rename(boot + ".leaders.tmp", boot + ".leaders")


with open(boot + ".tmp", "w") as f:
    f.write(rk.rd_kafka_mock_cluster_bootstraps(mc).decode())
os.rename(boot + ".tmp", boot)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
signal.signal(signal.SIGUSR1, lambda *a: want.append((-1, "off")))
signal.signal(signal.SIGUSR2, lambda *a: want.append((1, "on")))
while True:
    while want:
        leaders(*want.pop(0))
    time.sleep(0.02)
