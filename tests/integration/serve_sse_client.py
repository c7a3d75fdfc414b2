#!/usr/bin/env python3
"""serve_sse_client.py — a server-sent events client for serve_sse.sh.

Usage: serve_sse_client.py PORT PATH OUT [PREFIX]

Reads GET PATH from 127.0.0.1:PORT as an event stream (the parsing rules of
the HTML standard: fields, multi-line data, comments, blank line dispatches)
and appends to OUT, one line each, flushed:
  STATUS <code> ctype=<Content-Type>
  EVENT n=<n> t=<arrival, epoch s> name=<event> keys=<features, sorted> groups=<id:len,...>
        (keys and groups: those starting with PREFIX when given)
        (the data itself in OUT.<n>.json)
  COMMENT t=<epoch s> text=<comment>
  RETRY ms=<value>
  END t=<epoch s> how=eof|error:<why>
"""
import http.client
import json
import sys
import time

port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
prefix = sys.argv[4] if len(sys.argv) > 4 else ""
log = open(out, "a", buffering=1)


def say(line):
    log.write(line + "\n")


try:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path, headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    say("STATUS %d ctype=%s" % (r.status, r.getheader("Content-Type")))
    if r.status != 200:
        say("BODY %s" % r.read().decode().strip())
        say("END t=%.6f how=eof" % time.time())
        sys.exit(0)
    n, name, data = 0, "", []
    while True:
        raw = r.readline()
        if not raw:
            say("END t=%.6f how=eof" % time.time())
            break
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if data:
                n += 1
                text = "\n".join(data)
                with open("%s.%d.json" % (out, n), "w") as f:
                    f.write(text)
                keys, groups = "", ""
                try:
                    j = json.loads(text)
                    keys = ",".join(k for k in sorted(j.get("features", {})) if k.startswith(prefix))
                    groups = ",".join("%s:%d" % (k, len(v.get("values", v) if isinstance(v, dict) else v))
                                      for k, v in sorted(j.get("savedGroups", {}).items())
                                      if k.startswith(prefix))
                except ValueError as e:
                    keys = "invalid-json:%s" % e
                say("EVENT n=%d t=%.6f name=%s keys=%s groups=%s" % (n, time.time(), name or "message",
                                                                 keys, groups))
            name, data = "", []
        elif line.startswith(":"):
            say("COMMENT t=%.6f text=%s" % (time.time(), line[1:].strip()))
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "retry":
                say("RETRY ms=%s" % value)
except Exception as e:  # the stream broke: not a clean end
    say("END t=%.6f how=error:%s" % (time.time(), type(e).__name__))
