# SPDX-License-Identifier: MIT
"""Speaks nfnetlink_cttimeout to the kernel of the network namespace it runs in, without nfct, so that the
requests nfct never makes reach the kernel too: NLM_F_EXCL and NLM_F_REPLACE, names longer than 31 bytes, an
empty CTA_TIMEOUT_DATA, states nfct has no name for, and the use count of a dump.

Usage (inside the test's namespace): kernel_cttimeout.py, then one JSON request per line on stdin; one JSON
result per line on stdout, in order.
  request: {"op": "new"|"get"|"dump"|"delete"|"default_set"|"default_get", "name": str|null,
            "l3": int|null, "l4": int|null, "flags": ["excl", "replace", "create"],
            "data": {"<attribute number>": u32} | null}
  result:  {"errno": int, "objects": [{"name", "l3", "l4", "use", "data": {"<attribute number>": u32}}]}
A missing or null "name", "l3", "l4" or "data" leaves the attribute out of the request.
"""
import json
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK_TIMEOUT = 8
MESSAGES = {"new": 0, "get": 1, "dump": 1, "delete": 2, "default_set": 3, "default_get": 4}
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
FLAGS = {"replace": 0x100, "excl": 0x200, "create": 0x400}
NLMSG_ERROR, NLMSG_DONE = 2, 3
CTA_TIMEOUT_NAME, CTA_TIMEOUT_L3PROTO, CTA_TIMEOUT_L4PROTO, CTA_TIMEOUT_DATA, CTA_TIMEOUT_USE = 1, 2, 3, 4, 5
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF


def attribute(kind, payload):
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def encode(request, seq):
    op = request["op"]
    flags = NLM_F_REQUEST | (NLM_F_DUMP if op == "dump" else NLM_F_ACK)
    for name in request.get("flags") or []:
        flags |= FLAGS[name]
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
    if request.get("name") is not None:
        body += attribute(CTA_TIMEOUT_NAME, request["name"].encode("utf-8") + b"\0")
    if request.get("l3") is not None:
        body += attribute(CTA_TIMEOUT_L3PROTO, struct.pack("!H", request["l3"]))
    if request.get("l4") is not None:
        body += attribute(CTA_TIMEOUT_L4PROTO, struct.pack("=B", request["l4"]))
    if request.get("data") is not None:
        values = sorted((int(k), v) for k, v in request["data"].items())
        nested = b"".join(attribute(k, struct.pack("!I", v)) for k, v in values)
        body += attribute(CTA_TIMEOUT_DATA | NLA_F_NESTED, nested)
    kind = (NFNL_SUBSYS_CTNETLINK_TIMEOUT << 8) | MESSAGES[op]
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def attributes(buffer):
    offset = 0
    while offset + 4 <= len(buffer):
        length, kind = struct.unpack_from("=HH", buffer, offset)
        if length < 4:
            return
        yield kind & NLA_TYPE_MASK, buffer[offset + 4:offset + length]
        offset += (length + 3) & ~3


def decode(payload):
    entry = {"name": None, "l3": None, "l4": None, "use": None, "data": {}}
    for kind, value in attributes(payload[4:]):
        if kind == CTA_TIMEOUT_NAME:
            entry["name"] = value.rstrip(b"\0").decode("utf-8", "replace")
        elif kind == CTA_TIMEOUT_L3PROTO:
            entry["l3"] = struct.unpack("!H", value)[0]
        elif kind == CTA_TIMEOUT_L4PROTO:
            entry["l4"] = value[0]
        elif kind == CTA_TIMEOUT_USE:
            entry["use"] = struct.unpack("!I", value)[0]
        elif kind == CTA_TIMEOUT_DATA:
            entry["data"] = {str(k): struct.unpack("!I", v)[0] for k, v in attributes(value)}
    return entry


def talk(sock, request, seq):
    sock.send(encode(request, seq))
    objects = []
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
            payload = data[offset + 16:offset + length]
            offset += (length + 3) & ~3
            if kind == NLMSG_ERROR:
                return {"errno": -struct.unpack_from("=i", payload)[0], "objects": objects}
            if kind == NLMSG_DONE:
                return {"errno": 0, "objects": objects}
            objects.append(decode(payload))


def main():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    for seq, line in enumerate(sys.stdin, start=1):
        if line.strip():
            print(json.dumps(talk(sock, json.loads(line), seq)), flush=True)


if __name__ == "__main__":
    main()
