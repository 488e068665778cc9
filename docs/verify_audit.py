#!/usr/bin/env python3
"""Independent verifier for custos audit entries, written from
docs/audit-format.md alone.

Usage: verify_audit.py DIR [HEAD_HEX]

DIR holds files named <seq>.bin, each the canonical bytes of one entry as
served by GET /v1/audit/entries/{seq}/raw. Prints the head hash and exits 0
when the chain is intact; names the first bad sequence number and exits 1
otherwise.
"""
import hashlib
import os
import struct
import sys


class Bad(Exception):
    pass


def decode(raw):
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(raw):
            raise Bad("truncated")
        out = raw[pos:pos + n]
        pos += n
        return out

    def string():
        (n,) = struct.unpack(">H", take(2))
        return take(n).decode("utf-8")

    def strings():
        (n,) = struct.unpack(">H", take(2))
        return [string() for _ in range(n)]

    version = take(1)
    if version not in (b"\x01", b"\x02"):
        raise Bad("unknown version")
    seq, micros = struct.unpack(">Qq", take(16))
    prev = take(32)
    entry = {"seq": seq, "time_us": micros, "prev_hash": prev.hex()}
    entry["actor"] = string()
    entry["roles"] = strings()
    entry["action"] = string()
    entry["resource"] = string()
    entry["subjects"] = strings()
    entry["purpose"] = string()
    code = take(1)[0]
    if code > 2:
        raise Bad("unknown outcome")
    entry["outcome"] = ["allow", "deny", "error"][code]
    entry["reason"] = string()
    entry["released"] = strings()
    entry["masked"] = strings()
    entry["withheld"] = strings()
    entry["policy_hash"] = string()
    entry["request_id"] = string()
    entry["token_id"] = string() if version == b"\x02" else ""
    if pos != len(raw):
        raise Bad("trailing bytes")
    return entry, prev


def main():
    folder = sys.argv[1]
    seqs = sorted(int(f.split(".")[0]) for f in os.listdir(folder) if f.endswith(".bin"))
    prev = bytes(32)
    for expected, seq in enumerate(seqs):
        if seq != expected:
            print(f"first bad sequence number {expected}: missing")
            return 1
        raw = open(os.path.join(folder, f"{seq}.bin"), "rb").read()
        try:
            entry, entry_prev = decode(raw)
        except (Bad, UnicodeDecodeError) as e:
            print(f"first bad sequence number {seq}: {e}")
            return 1
        if entry["seq"] != seq or entry_prev != prev:
            print(f"first bad sequence number {seq}: chain broken")
            return 1
        prev = hashlib.sha256(raw).digest()
    if len(sys.argv) > 2 and sys.argv[2] != prev.hex():
        print(f"first bad sequence number {len(seqs) - 1}: head mismatch")
        return 1
    print(f"intact: {len(seqs)} entries, head {prev.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
