# SPDX-License-Identifier: MIT
"""Replays events through a live dataplane over veth pairs and reports what each event did.

Usage, inside the test's network namespace, where veth pairs a0/a1 and b0/b1 exist and a dataplane forwards
between a0 and b0:
    live_differential.py kernel RULES6 FAMILY:TABLE ... < events.json
        the namespace routes a0 <-> b0 through the iptables-legacy tables named (iptables:raw, ip6tables:filter, ...);
        RULES6 is the ip6tables-save file loaded at the start, or "-" for none
    live_differential.py fastpath SOCKET FASTPATHCTL RULES < events.json
        fastpath runs between a0 and b0 with its control socket at SOCKET and its --rules file at RULES
Events:
    {"packet": {"proto": "udp"|"tcp"|"icmp", "src", "dst", "ttl", "dport", "sport", "flags", "payload", "reply"}}
        src, dst and the ports name the flow in its original direction; "reply" sends it the other way, into
        b1 and out of a1. A TCP packet without "flags" is a SYN, one with flags ("S", "SA", "A", "PA", "FA", "R",
        ...) a segment of a conversation whose sequence and acknowledgement numbers this script keeps ("retransmit":
        true sends that side's previous segment's sequence number again and moves nothing on); an ICMP
        packet is an echo request (a reply with "reply") with identifier sport; an "icmp-unreachable" one (with
        "reply") is the server's port unreachable quoting the flow's UDP datagram. "payload" is its length in bytes
        (default: a 12-byte marker); "bad_checksum": true damages the transport checksum. With "scapy", the
        frame's IP packet is that scapy expression instead (for extension headers, ICMPv6 messages and quotes the
        builder does not make), its flow label or identification set to the frame's identity; the other fields then
        only name its flow. With "lost": true the frame may vanish (a kernel that drops it before netfilter): it is
        waited for LOST_WAIT seconds, and then "lost".
    {"sleep": SECONDS}
    {"write": {"path": "/proc/...", "text": "..."}}   the errno of writing text to the file
    {"list": "/proc/..."}                             the file's text
    {"restore": "iptables-save text"}                 the exit status of iptables-legacy-restore with the text (1
                                                      for any refusal), then of ip6tables-legacy-restore with RULES6
                                                      again (fastpathctl reload re-reads both files, which resets the
                                                      IPv6 counters too), or of fastpathctl reload after the text is
                                                      written to RULES
    {"run": ["nfct" | "conntrack", ARG...]}           the program in the namespace, or fastpathctl with the same
                                                      arguments: {"exit", "stdout", "stderr", "started_at", "finished_at"}
Each frame is sent on its own and is decided when it comes out of the far side, or when a rule or policy whose
target is DROP counts it: only then is the next event run, so the result does not depend on timing.
Prints one JSON object: {"packets": [{"verdict": "forwarded", "counted": ["raw:PREROUTING:1", ...], "sent_at": S}, ...],
"errnos": [...], "listings": [...], "runs": [...], "counters": "the final counters listing"}; times are seconds
on the monotonic clock.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

from kernel_recent_match import frame, write_file

ETH_P_ALL = 3
DECIDE_TIMEOUT = 3.0
LOST_WAIT = 0.5
# Crossing traffic never passes the built-in INPUT and OUTPUT chains; the kernel's own packets (MLD reports) do.
NOT_CROSSED = ("INPUT", "OUTPUT")


class Kernel:
    """The namespace's own netfilter: counters from iptables-legacy -L, proc files read and written directly."""

    def __init__(self, rules6, tables):
        self.rules6 = None if rules6 == "-" else rules6
        self.tables = [t.split(":") for t in tables]

    def counters(self):
        # The same sections, in the same order, as fastpath's /proc/fastpath/counters.
        return "\n".join(
            "# %s -t %s -L -v -x -n\n" % (tool, table)
            + subprocess.run([tool + "-legacy", "-t", table, "-L", "-v", "-x", "-n"], check=True, capture_output=True, text=True).stdout
            for tool, table in self.tables)

    final_counters = counters

    def write(self, path, text):
        return write_file(path, text)

    def listing(self, path):
        with open(path) as f:
            return f.read()

    def run(self, arguments):
        return subprocess.run(arguments, capture_output=True, text=True)

    def restore(self, text):
        # iptables-restore exits 2 when iptables itself refuses the text (a parameter problem) and 1 when the kernel
        # does; fastpathctl reload exits 1 for any refused rules file: both are "refused, the old rules stay".
        status = subprocess.run(["iptables-legacy-restore"], input=text, capture_output=True, text=True).returncode
        if status == 0 and self.rules6:
            status = subprocess.run(["ip6tables-legacy-restore", self.rules6], capture_output=True, text=True).returncode
        return min(status, 1)


class FastPath:
    """A running fastpath: writes, listings and the final counters through fastpathctl as a user runs it; the
    counters polled while a packet is decided through the socket's own protocol (a dotnet start per poll is too slow)."""

    # fastpathctl prints glibc's strerror texts, as os.strerror does.
    ERRNOS = {os.strerror(n): n for n in range(1, 134)}

    def __init__(self, socket_path, fastpathctl, rules):
        self.socket_path = socket_path
        self.fastpathctl = fastpathctl
        self.rules = rules

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

    def ctl(self, *arguments, data=None):
        done = subprocess.run([self.fastpathctl, "--socket", self.socket_path, *arguments], input=data, capture_output=True)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())

    def final_counters(self):
        return self.checked(self.ctl("cat", "/proc/fastpath/counters"))

    def write(self, path, text):
        # Through standard input: the text as the bytes written (an argument of "-" alone would mean standard input).
        done = self.ctl("write", path, "-", data=text.encode("latin-1"))
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

    def listing(self, path):
        return self.checked(self.ctl("cat", path))

    def run(self, arguments):
        return self.ctl(*arguments)

    def restore(self, text):
        with open(self.rules, "w") as f:
            f.write(text)
        return self.ctl("reload").returncode

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
    """Frames into a1 (or b1, for replies), and what comes out of b1 (or a1). The kernel rewrites MACs and the TTL,
    so frames are told apart by their IPv4 identification or IPv6 flow label, which forwarding leaves alone."""

    def __init__(self):
        self.ends = {}
        for end, dataplane_side in (("a1", "a0"), ("b1", "b0")):
            sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sender.bind((end, 0))
            receiver = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            receiver.bind((end, 0))
            receiver.setblocking(False)
            with open("/sys/class/net/%s/address" % dataplane_side) as f:
                mac = bytes.fromhex(f.read().strip().replace(":", ""))
            self.ends[end] = (sender, receiver, mac)

    def send(self, end, build):
        sender, _, mac = self.ends[end]
        sender.send(build(mac))

    def came_out(self, end, ident):
        _, receiver, _ = self.ends[end]
        found = False
        while True:
            try:
                data, address = receiver.recvfrom(65536)
            except BlockingIOError:
                return found
            # What this end sent itself is seen too (PACKET_OUTGOING), and is not what came out.
            if address[2] != socket.PACKET_OUTGOING:
                found |= identity(data) == ident


def identity(data):
    ethertype = data[12:14]
    if ethertype == b"\x08\x00" and len(data) >= 20:
        return struct.unpack_from("!H", data, 18)[0]
    if ethertype == b"\x86\xdd" and len(data) >= 18:
        return struct.unpack_from("!I", data, 14)[0] & 0xFFFFF
    return None


TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
INITIAL_SEQUENCE = (1000, 500000)  # of the original sender, of the replier


class Conversations:
    """The next sequence number of each side of each TCP flow, so that segments are what the peers would send."""

    def __init__(self):
        self.next = {}
        self.previous = {}

    def numbers(self, packet, length):
        flags = packet["flags"]
        flow = (packet["src"], packet["sport"], packet["dst"], packet["dport"])
        sides = self.next.setdefault(flow, list(INITIAL_SEQUENCE))
        previous = self.previous.setdefault(flow, list(INITIAL_SEQUENCE))
        me = 1 if packet.get("reply") else 0
        ack = sides[1 - me] if "A" in flags else 0
        if packet.get("retransmit"):
            return previous[me], ack, sum(TCP_FLAGS[f] for f in flags)
        seq = previous[me] = sides[me]
        sides[me] += length + ("S" in flags) + ("F" in flags)
        return seq, ack, sum(TCP_FLAGS[f] for f in flags)


def build(packet, number, conversations):
    """The frame of a packet event (with its identity), given the MAC address of the dataplane port it goes to."""
    ident = number + 1
    if packet.get("scapy"):
        return ident, scapy_frame(packet["scapy"], ident)
    proto, reply = packet.get("proto", "udp"), packet.get("reply", False)
    length = packet.get("payload")
    payload = b"fastpath" + struct.pack("!I", number) if length is None else bytes(length)
    src, dst, sport, dport = packet["src"], packet["dst"], packet.get("sport", 40000), packet["dport"]
    seq, ack, flags = 1, 0, 0x02
    if proto == "tcp" and packet.get("flags"):
        seq, ack, flags = conversations.numbers(dict(packet, sport=sport), len(payload))
    elif proto == "icmp":
        flags = 0 if reply else 1  # the echo reply keeps the request's identifier (sport)
    elif proto == "icmp-unreachable":
        payload = frame(src, dst, packet["ttl"], dport, "udp", b"", sport=sport, ident=ident)[14:14 + 28]
    if reply:
        src, dst = dst, src
        if proto not in ("icmp", "icmp-unreachable"):
            sport, dport = dport, sport
    if not packet.get("bad_checksum"):
        return ident, lambda mac: frame(src, dst, packet["ttl"], dport, proto, payload, mac, sport, flags, seq, ack, ident)
    at = 14 + (40 if ":" in src else 20) + {"tcp": 16, "udp": 6}.get(proto, 2)

    def damaged(mac):
        data = bytearray(frame(src, dst, packet["ttl"], dport, proto, payload, mac, sport, flags, seq, ack, ident))
        data[at] ^= 0x5A
        return bytes(data)
    return ident, damaged


def scapy_frame(expression, ident):
    """The frame of a scapy expression for an IP packet, with ident as its IPv6 flow label or IPv4 identification."""
    import scapy.all as scapy  # slow to import: only for the scenarios that use it
    ip = eval(expression, vars(scapy))
    if isinstance(ip, scapy.IPv6):
        ip.fl = ident
        ethertype = b"\x86\xdd"
    else:
        ip.id = ident
        ethertype = b"\x08\x00"
    data = bytes(ip)
    return lambda mac: mac + b"\x02\x00\x00\x00\x00\x01" + ethertype + data


def decide(backend, wire, packet, number, conversations):
    into, out_of = ("b1", "a1") if packet.get("reply") else ("a1", "b1")
    ident, builder = build(packet, number, conversations)
    wire.came_out(out_of, ident)  # empties the receive queue
    before, _ = parse_counters(backend.counters())
    wire.send(into, builder)
    sent_at = time.monotonic()
    deadline = sent_at + (LOST_WAIT if packet.get("lost") else DECIDE_TIMEOUT)
    forwarded = dropped = False
    while not (forwarded or dropped or time.monotonic() > deadline):
        time.sleep(0.002)
        forwarded = wire.came_out(out_of, ident)
        after, drops = parse_counters(backend.counters())
        dropped = any(after[key] != before.get(key, 0) for key in drops)
    if dropped:
        # The read that saw the drop may have missed counts another worker made just before it; one begun after it cannot.
        after, _ = parse_counters(backend.counters())
    moved = {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}
    verdict = "forwarded" if forwarded else "dropped" if dropped else "lost" if packet.get("lost") else "undecided after %.0f s" % DECIDE_TIMEOUT
    return {"verdict": verdict, "counted": [key if n == 1 else "%s x%d" % (key, n) for key, n in moved.items()], "sent_at": sent_at}


def main():
    if sys.argv[1] == "kernel":
        backend = Kernel(sys.argv[2], sys.argv[3:])
    else:
        backend = FastPath(sys.argv[2], sys.argv[3], sys.argv[4])
    events = json.load(sys.stdin)
    wire = Wire()
    conversations = Conversations()
    packets, errnos, listings, runs = [], [], [], []
    for event in events:
        if "packet" in event:
            packets.append(decide(backend, wire, event["packet"], len(packets), conversations))
        elif "sleep" in event:
            time.sleep(event["sleep"])
        elif "write" in event:
            errnos.append(backend.write(event["write"]["path"], event["write"]["text"]))
        elif "restore" in event:
            errnos.append(backend.restore(event["restore"]))
        elif "list" in event:
            listings.append(backend.listing(event["list"]))
        elif "run" in event:
            started_at = time.monotonic()
            done = backend.run(event["run"])
            runs.append({"exit": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "started_at": started_at,
                         "finished_at": time.monotonic()})
    print(json.dumps({"packets": packets, "errnos": errnos, "listings": listings, "runs": runs, "counters": backend.final_counters()}))


if __name__ == "__main__":
    main()
