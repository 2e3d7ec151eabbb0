# SPDX-License-Identifier: MIT
"""Writes each string of a JSON list to /proc/net/xt_recent/NAME (one open/write/close each, retrying short
writes the way a shell's echo does) and prints the errno of every write and the final listing as JSON.
Run inside the test's own network namespace."""
import json
import os
import sys


def main():
    path = sys.argv[1]
    errnos = []
    for text in json.load(sys.stdin):
        data = text.encode("latin-1")
        fd = os.open(path, os.O_WRONLY)
        error = 0
        try:
            offset = 0
            while offset < len(data):
                offset += os.write(fd, data[offset:])
        except OSError as e:
            error = e.errno
        finally:
            os.close(fd)
        errnos.append(error)
    with open(path) as listing:
        print(json.dumps({"errnos": errnos, "listing": listing.read()}))


if __name__ == "__main__":
    main()
