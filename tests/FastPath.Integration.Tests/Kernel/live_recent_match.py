# SPDX-License-Identifier: MIT
"""Replays recent-match events through a live dataplane over veth pairs and reports what each event did.

Usage, inside the test's network namespace, where veth pairs a0/a1 and b0/b1 exist and a dataplane forwards
from a0 to b0:
    live_recent_match.py kernel FAMILY:TABLE ... < events.json
        the namespace routes a0 -> b0 through the iptables-legacy tables named (iptables:raw, ip6tables:filter, ...)
    live_recent_match.py fastpath SOCKET FASTPATHCTL < events.json
        fastpath runs between a0 and b0 with its control socket at SOCKET
Events as for kernel_recent_match.py; a packet may name "proto": "tcp" (a SYN) or "udp" (the default).
Each frame is sent on a1 and is decided when it comes out of b1, or when a rule or policy whose target is DROP
counts it: only then is the next event run, so the result does not depend on timing.
Prints one JSON object: {"packets": [{"verdict": "forwarded", "counted": ["raw:PREROUTING:1", ...]}, ...],
"errnos": [...], "listings": [...], "counters": "the final counters listing"}.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

from kernel_recent_match import frame, write_proc

ETH_P_ALL = 3
DECIDE_TIMEOUT = 3.0
# Crossing traffic never passes the built-in INPUT and OUTPUT chains; the kernel's own packets (MLD reports) do.
NOT_CROSSED = ("INPUT", "OUTPUT")


class Kernel:
    """The namespace's own netfilter: counters from iptables-legacy -L, proc files read and written directly."""

    def __init__(self, tables):
        self.tables = [t.split(":") for t in tables]

    def counters(self):
        # The same sections, in the same order, as fastpath's /proc/fastpath/counters.
        return "\n".join(
            "# %s -t %s -L -v -x -n\n" % (tool, table)
            + subprocess.run([tool + "-legacy", "-t", table, "-L", "-v", "-x", "-n"], check=True, capture_output=True, text=True).stdout
            for tool, table in self.tables)

    final_counters = counters

    def write(self, table, text):
        return write_proc(table, text)

    def listing(self, table):
        with open("/proc/net/xt_recent/" + table) as f:
            return f.read()


class FastPath:
    """A running fastpath: writes, listings and the final counters through fastpathctl as a user runs it; the
    counters polled while a packet is decided through the socket's own protocol (a dotnet start per poll is too slow)."""

    # fastpathctl prints glibc's strerror texts, as os.strerror does.
    ERRNOS = {os.strerror(n): n for n in range(1, 134)}

    def __init__(self, socket_path, fastpathctl):
        self.socket_path = socket_path
        self.fastpathctl = fastpathctl

    def counters(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.socket_path)
            s.sendall(b"read /proc/fastpath/counters\n")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        status, _, body = answer.partition(b"\n")
        if status != b"OK":
            raise RuntimeError("counters: " + status.decode())
        return body.decode()

    def ctl(self, *arguments):
        return subprocess.run([self.fastpathctl, "--socket", self.socket_path, *arguments], capture_output=True, text=True)

    def final_counters(self):
        return self.checked(self.ctl("cat", "/proc/fastpath/counters"))

    def write(self, table, text):
        path = "/proc/net/xt_recent/" + table
        done = self.ctl("write", path, text)
        if done.returncode == 0:
            return 0
        # "fastpathctl: PATH: <strerror text> (detail)" with exit status 1; 2 is a usage or connection error.
        prefix = "fastpathctl: %s: " % path
        reason = done.stderr.strip()
        if done.returncode == 1 and reason.startswith(prefix):
            reason = reason[len(prefix):]
            for message, number in self.ERRNOS.items():
                if reason == message or reason.startswith(message + " ("):
                    return number
        raise RuntimeError("fastpathctl write %r: exit %d: %s" % (text, done.returncode, done.stderr))

    def listing(self, table):
        return self.checked(self.ctl("cat", "/proc/net/xt_recent/" + table))

    @staticmethod
    def checked(done):
        if done.returncode != 0:
            raise RuntimeError("fastpathctl: exit %d: %s" % (done.returncode, done.stderr))
        return done.stdout


def parse_counters(listing):
    """iptables -L -v -x -n sections -> ({"raw:PREROUTING:1": packets, "ip6:filter:FORWARD:policy": packets}, keys whose target is DROP)."""
    counts, drops = {}, set()
    prefix = table = chain = None
    rule = 0
    for line in listing.splitlines():
        fields = line.split()
        if line.startswith("# "):
            prefix = "ip6:" if fields[1] == "ip6tables" else ""
            table = fields[3]
        elif line.startswith("Chain "):
            chain, rule = fields[1], 0
            policy = re.match(r"Chain \S+ \(policy (\S+) (\d+) packets", line)
            if policy and chain not in NOT_CROSSED:
                key = "%s%s:%s:policy" % (prefix, table, chain)
                counts[key] = int(policy.group(2))
                if policy.group(1) == "DROP":
                    drops.add(key)
        elif fields and fields[0].isdigit():
            rule += 1
            if chain not in NOT_CROSSED:
                key = "%s%s:%s:%d" % (prefix, table, chain, rule)
                counts[key] = int(fields[0])
                # A rule without a target shows its protocol number in the target column.
                if fields[2] == "DROP":
                    drops.add(key)
    return counts, drops


class Wire:
    """Frames into a1, and what comes out of b1 (the kernel rewrites MACs and TTL, so frames are told apart by payload)."""

    def __init__(self):
        self.sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.sender.bind(("a1", 0))
        self.receiver = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.receiver.bind(("b1", 0))
        self.receiver.setblocking(False)
        with open("/sys/class/net/a0/address") as f:
            self.dst_mac = bytes.fromhex(f.read().strip().replace(":", ""))

    def send(self, packet, payload):
        self.sender.send(frame(packet["src"], packet["dst"], packet["ttl"], packet["dport"], packet.get("proto", "udp"), payload, self.dst_mac))

    def came_out(self, payload):
        found = False
        while True:
            try:
                found |= payload in self.receiver.recv(65536)
            except BlockingIOError:
                return found


def decide(backend, wire, packet, number):
    payload = b"fastpath" + struct.pack("!I", number)
    wire.came_out(payload)  # empties the receive queue
    before, _ = parse_counters(backend.counters())
    wire.send(packet, payload)
    deadline = time.monotonic() + DECIDE_TIMEOUT
    forwarded = dropped = False
    while not (forwarded or dropped or time.monotonic() > deadline):
        time.sleep(0.002)
        forwarded = wire.came_out(payload)
        after, drops = parse_counters(backend.counters())
        dropped = any(after[key] != before.get(key, 0) for key in drops)
    if dropped:
        # The read that saw the drop may have missed counts another worker made just before it; one begun after it cannot.
        after, _ = parse_counters(backend.counters())
    moved = {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}
    verdict = "forwarded" if forwarded else "dropped" if dropped else "undecided after %.0f s" % DECIDE_TIMEOUT
    return {"verdict": verdict, "counted": [key if n == 1 else "%s x%d" % (key, n) for key, n in moved.items()]}


def main():
    if sys.argv[1] == "kernel":
        backend = Kernel(sys.argv[2:])
    else:
        backend = FastPath(sys.argv[2], sys.argv[3])
    events = json.load(sys.stdin)
    wire = Wire()
    packets, errnos, listings = [], [], []
    for event in events:
        if "packet" in event:
            packets.append(decide(backend, wire, event["packet"], len(packets)))
        elif "sleep" in event:
            time.sleep(event["sleep"])
        elif "write" in event:
            errnos.append(backend.write(event["write"]["table"], event["write"]["text"]))
        elif "list" in event:
            listings.append(backend.listing(event["list"]))
    print(json.dumps({"packets": packets, "errnos": errnos, "listings": listings, "counters": backend.final_counters()}))


if __name__ == "__main__":
    main()
