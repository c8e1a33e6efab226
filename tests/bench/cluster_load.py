#!/usr/bin/env python3
"""Load tool of tests/bench/cluster.sh: simulated hosts in etcd, in the
key layout of docs/cluster.md, then churn with the propagation of every
change into the kernel timed on `nft monitor` (run it in the namespace of
the bulkheadd under test).

  cluster_load.py load URL HOSTS PER_HOST
      one host key and PER_HOST address keys per host, in transactions of
      128 puts; prints "loaded N endpoints in S s"
  cluster_load.py churn URL RATE SECONDS WATCHER
      RATE container starts and stops per second (a put of a new address
      key, a delete of the oldest one started here), each timed from just
      before its request to the first element of inet bulkhead with its
      address that the kernel announces (added, deleted), as WATCHER
      (tests/bench/nft_elemwatch.c) reports it; prints
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

    def add(op):
        # etcd's --max-txn-ops: 128 by default
        ops.append(op)
        if len(ops) >= 128:
            post(url, "/v3/kv/txn", {"success": ops})
            ops.clear()

    for h in range(hosts):
        host = "sim%04d" % h
        add({"request_put": {"key": b64(PREFIX + "hosts/" + host),
             "value": b64(json.dumps({"name": host, "containers": per_host,
                                      "policy_hash": "0", "version": 1,
                                      "lease": "0", "ttl": 60}))}})
        for c in range(per_host):
            i = h * per_host + c + 1
            ip = addr(i, 128)
            add({"request_put": {"key": b64(PREFIX + "addrs/" + ip),
                                 "value": b64(value(host, i, ip))}})
            n += 1
    if ops:
        post(url, "/v3/kv/txn", {"success": ops})
    print("loaded %d endpoints in %.1f s" % (n, time.monotonic() - t0))


def churn(url, rate, seconds, watcher):
    mon = subprocess.Popen([watcher], stdout=subprocess.PIPE, text=True,
                           bufsize=1)
    seen, lock = {}, threading.Lock()
    if mon.stdout.readline().strip() != "ready":
        sys.exit("churn: %s did not start" % watcher)

    def reader():
        for line in mon.stdout:
            w = line.split()
            if len(w) == 3 and w[1].startswith("10.200."):
                # the watcher's CLOCK_MONOTONIC, as time.monotonic()
                with lock:
                    seen.setdefault((w[0], w[1]), int(w[2]) / 1e9)

    threading.Thread(target=reader, daemon=True).start()
    # a sentinel container: the daemon follows and the watcher sees it
    sentinel = "10.200.255.254"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        post(url, "/v3/kv/put", {"key": b64(PREFIX + "addrs/" + sentinel),
                                 "value": b64(value("simchurn", 999999, sentinel))})
        time.sleep(1.0)
        with lock:
            if ("add", sentinel) in seen:
                break
        post(url, "/v3/kv/deleterange", {"key": b64(PREFIX + "addrs/" + sentinel)})
        time.sleep(0.5)
    else:
        print("churn: the kernel never showed the sentinel")
        sys.exit(1)
    post(url, "/v3/kv/deleterange", {"key": b64(PREFIX + "addrs/" + sentinel)})
    time.sleep(0.5)
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
        churn(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit("usage: cluster_load.py load URL HOSTS PER_HOST | churn URL RATE SECONDS WATCHER")
