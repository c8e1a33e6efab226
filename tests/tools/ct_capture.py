#!/usr/bin/env python3
"""Captures real ctnetlink messages from the kernel, as bulkheadd's
observer receives them, into one file per message: the fixtures of
tests/unit/test_ctevent.c and the seeds of tests/fuzz/fuzz_ctevent.c.

    ct_capture.py DIR          (root; called by ct_capture.sh in a fresh
                                network namespace, never in the host's)

Subscribes to the NEW and DESTROY event groups (what observe.c binds),
then opens, in this namespace: TCP over IPv4 (1 byte each way), UDP over
IPv4 (request and answer), TCP over IPv6, TCP through a DNAT of the
output hook (port 6000 -> 6001, set by ct_capture.sh), an ICMP echo;
then `conntrack -F` ends them all, so their DESTROY events carry the
counters (nf_conntrack_acct=1). Also keeps the entries of a dump
(IPCTNL_MSG_CT_GET, NLM_F_DUMP), as the resync reads it. Each file is
named after what it holds; the source ports are fixed (40001..40004)
so the tests can check them. Prints one line per file written."""
import os
import socket
import struct
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
NF_NETLINK_CONNTRACK_NEW = 1
NF_NETLINK_CONNTRACK_DESTROY = 4
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
NLM_F_REQUEST = 1
NLM_F_DUMP = 0x300


def tcp(family, host, sport, dport, lport=None):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, lport or dport))
    srv.listen(1)
    c = socket.socket(family, socket.SOCK_STREAM)
    c.bind((host, sport))
    c.connect((host, dport))
    a, _ = srv.accept()
    c.send(b"x")
    a.recv(1)
    a.send(b"y")
    c.recv(1)
    c.close()
    a.close()
    srv.close()


def udp(host, sport, dport):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind((host, dport))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind((host, sport))
    c.sendto(b"q", (host, dport))
    _, peer = srv.recvfrom(16)
    srv.sendto(b"a", peer)
    c.recv(16)
    c.close()
    srv.close()


def ping(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"bulkhead"
    csum = 0
    for i in range(0, len(body), 2):
        csum += (body[i] << 8) + body[i + 1]
    csum = (csum >> 16) + (csum & 0xffff)
    csum = ~(csum + (csum >> 16)) & 0xffff
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    s.sendto(body, (host, 0))
    s.settimeout(1)
    try:
        s.recv(256)
    except socket.timeout:
        pass
    s.close()


def tuple_key(msg):
    """(l4 protocol, original source port) of a conntrack message, from a
    minimal walk of its attributes: the name of its fixture."""
    def attrs(buf):
        off = 0
        while off + 4 <= len(buf):
            ln, ty = struct.unpack_from("=HH", buf, off)
            if ln < 4 or off + ln > len(buf):
                return
            yield ty & 0x3fff, buf[off + 4:off + ln]
            off += (ln + 3) & ~3
    proto, sport = None, None
    for ty, val in attrs(msg[20:]):
        if ty != 1:		# CTA_TUPLE_ORIG
            continue
        for ty2, val2 in attrs(val):
            if ty2 != 2:	# CTA_TUPLE_PROTO
                continue
            for ty3, val3 in attrs(val2):
                if ty3 == 1:
                    proto = val3[0]
                elif ty3 == 2:
                    sport = struct.unpack("!H", val3[:2])[0]
    return proto, sport


NAMES = {
    (6, 40001): "v4-tcp", (17, 40002): "v4-udp", (6, 40003): "v6-tcp",
    (6, 40004): "v4-tcp-dnat", (1, None): "v4-icmp",
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    ev.bind((0, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_DESTROY))
    ev.settimeout(0.5)
    tcp(socket.AF_INET, "127.0.0.1", 40001, 5001)
    udp("127.0.0.1", 40002, 5002)
    tcp(socket.AF_INET6, "::1", 40003, 5003)
    tcp(socket.AF_INET, "127.0.0.1", 40004, 6000, lport=6001)
    ping("127.0.0.1")
    time.sleep(0.2)

    # one dump entry, as the resync reads it (before the flush)
    d = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    req = struct.pack("=IHHII", 20, (NFNL_SUBSYS_CTNETLINK << 8) |
                      IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    req += struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
    d.send(req)
    done = False
    while not done:
        buf = d.recv(65536)
        off = 0
        while off + 16 <= len(buf):
            ln, typ = struct.unpack_from("=IH", buf, off)
            if typ == 3 or ln < 16:	# NLMSG_DONE
                done = True
                break
            msg = buf[off:off + ln]
            proto, sport = tuple_key(msg)
            name = NAMES.get((proto, sport if proto != 1 else None))
            if name:
                write(out, "dump-" + name, msg)
            off += (ln + 3) & ~3
    d.close()

    subprocess.run(["conntrack", "-F"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            msg = ev.recv(65536)
        except socket.timeout:
            break
        ln, typ = struct.unpack_from("=IH", msg)
        kind = {IPCTNL_MSG_CT_NEW: "new",
                IPCTNL_MSG_CT_DELETE: "destroy"}.get(typ & 0xff, "other")
        proto, sport = tuple_key(msg[:ln])
        name = NAMES.get((proto, sport if proto != 1 else None))
        if not name or (name, kind) in seen:
            continue
        seen.add((name, kind))
        write(out, name + "-" + kind, msg[:ln])


def write(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print("%s %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
