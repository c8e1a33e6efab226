#!/usr/bin/env python3
"""Load tool of tests/bench/cluster.sh: simulated hosts in etcd, in the
key layout of docs/cluster.md, then churn with the propagation of every
change into the kernel timed on `nft monitor` (run it in the namespace of
the bulkheadd under test).

  cluster_load.py load URL HOSTS PER_HOST
      one host key and PER_HOST address keys per host, in transactions of
      128 puts; prints "loaded N endpoints in S s"
  cluster_load.py churn URL RATE SECONDS
      RATE container starts and stops per second (a put of a new address
      key, a delete of the oldest one started here), each timed from just
      before its request to the first `nft monitor` line of inet bulkhead
      that names its address (add element, delete element); prints
      "churn: N updates, M seen, p50 X ms, p99 Y ms, max Z ms"
"""
import base64, json, subprocess, sys, threading, time, urllib.request

PREFIX = "/bulkhead/v1/"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def post(url, path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def addr(i, base):
    return "10.%d.%d.%d" % (base + (i >> 16), (i >> 8) & 255, i & 255)


GROUPS = ("web", "api", "db")


def value(host, i, ip):
    g = GROUPS[i % 3]
    return json.dumps({"host": host, "id": "sim-%d" % i, "name": "sim-%d" % i,
                       "group": g, "labels": {"bulkhead.purpose": g},
                       "labels_digest": "0"}, sort_keys=True)


def load(url, hosts, per_host):
    t0 = time.monotonic()
    ops, n = [], 0
    for h in range(hosts):
        host = "sim%04d" % h
        ops.append({"request_put": {"key": b64(PREFIX + "hosts/" + host),
                    "value": b64(json.dumps({"name": host, "containers": per_host,
                                             "policy_hash": "0", "version": 1,
                                             "lease": "0", "ttl": 60}))}})
        for c in range(per_host):
            i = h * per_host + c + 1
            ip = addr(i, 128)
            ops.append({"request_put": {"key": b64(PREFIX + "addrs/" + ip),
                                        "value": b64(value(host, i, ip))}})
            n += 1
            if len(ops) >= 128:
                post(url, "/v3/kv/txn", {"success": ops})
                ops = []
    if ops:
        post(url, "/v3/kv/txn", {"success": ops})
    print("loaded %d endpoints in %.1f s" % (n, time.monotonic() - t0))


def churn(url, rate, seconds):
    mon = subprocess.Popen(["stdbuf", "-oL", "nft", "monitor", "elements"],
                           stdout=subprocess.PIPE, text=True, bufsize=1)
    seen, lock = {}, threading.Lock()

    def reader():
        for line in mon.stdout:
            t = time.monotonic()
            if "inet bulkhead" not in line:
                continue
            kind = "add" if line.startswith("add") else "del"
            for w in line.replace("{", " ").replace("}", " ").replace(",", " ").split():
                if w.startswith("10.200."):
                    with lock:
                        seen.setdefault((kind, w), t)

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(1.0)		# the monitor subscribes
    sent, live, i = {}, [], 0
    start = time.monotonic()
    n = int(rate * seconds)
    for k in range(n):
        due = start + k / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if k % 2 == 0 or not live:	# start one
            i += 1
            ip = addr(i, 200)
            t = time.monotonic()
            post(url, "/v3/kv/put", {"key": b64(PREFIX + "addrs/" + ip),
                                     "value": b64(value("simchurn", 900000 + i, ip))})
            sent[("add", ip)] = t
            live.append(ip)
        else:				# stop the oldest
            ip = live.pop(0)
            t = time.monotonic()
            post(url, "/v3/kv/deleterange", {"key": b64(PREFIX + "addrs/" + ip)})
            sent[("del", ip)] = t
    wall = time.monotonic() - start
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if all(k in seen for k in sent):
                break
        time.sleep(0.1)
    mon.terminate()
    lat = sorted((seen[k] - t) * 1000 for k, t in sent.items() if k in seen)
    for ip in live:
        post(url, "/v3/kv/deleterange", {"key": b64(PREFIX + "addrs/" + ip)})
    if not lat:
        print("churn: %d updates in %.1f s, 0 seen" % (len(sent), wall))
        sys.exit(1)

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))]
    print("churn: %d updates in %.1f s (%.0f/s), %d seen, p50 %.0f ms, "
          "p99 %.0f ms, max %.0f ms" % (len(sent), wall, len(sent) / wall,
                                        len(lat), pct(50), pct(99), lat[-1]))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "churn":
        churn(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("usage: cluster_load.py load URL HOSTS PER_HOST | churn URL RATE SECONDS")
