#!/usr/bin/env python3
"""Independent verifier for custos access reports, written from
docs/audit-format.md ("Access reports") alone.

Usage: verify_access_report.py REPORT [--verifier-key KEY]
                               [--witness WKEY ... [--quorum K]]

REPORT is the JSON of GET /v1/subjects/{sid}/access-report, or the HTML
page (?format=html), which carries the same JSON. KEY is the log's verifier
key as the organisation publishes it (GET /v1/audit/verifier-key); without
it the key inside the report is used, and the output says so. Each WKEY is
a witness's verifier key the person trusts; with them, K (default 1) of
those witnesses must have cosigned the report's checkpoint (C2SP
tlog-cosignature), so a log showing this person a history it shows no one
else is refused.

Checks, without access to custos, that every entry listed is in the log the
signed checkpoint commits to, that each names the person, that what the
report shows of each matches the entry, and that no entry about the person
up to the checkpoint is missing (the subject map's proof). Prints
"complete and consistent with checkpoint N" and exits 0; names what fails
and exits 1; exits 2 when the file cannot be read at all.

Needs Python 3.11 and nothing else: Ed25519 is checked by the standard
library implementation in verify_cosignature.py beside it (RFC 8032).
"""
import base64
import datetime
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_audit import Bad as BadEntry, decode  # noqa: E402
from verify_cosignature import Usage, ed25519_verify, parse_vkey, split_note  # noqa: E402

FORMAT = "custos.access-report.v1"
SIG_PREFIX = "\u2014 "


class Fail(Exception):
    pass


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def b64(s, what):
    try:
        return base64.b64decode(s, validate=True)
    except Exception:
        raise Fail(f"{what} is not base64")


def hash32(s, what):
    raw = b64(s, what)
    if len(raw) != 32:
        raise Fail(f"{what} is not 32 bytes")
    return raw


def open_checkpoint(note, vkey):
    """The checkpoint's text once the signature by vkey verifies."""
    try:
        name, key_id, public = parse_vkey(vkey, 0x01)
        text, lines = split_note(note)
    except (Usage, ValueError):
        raise Fail("the verifier key or the checkpoint is malformed")
    for signer, blob in lines:
        if signer != name or len(blob) != 68 or int.from_bytes(blob[:4], "big") != key_id:
            continue
        if not ed25519_verify(public, text.encode(), blob[4:]):
            raise Fail("the checkpoint's signature does not verify")
        return text
    raise Fail("the checkpoint is not signed by the verifier key")


def cosigned_by(note, witnesses):
    """The witnesses (of the keys given) whose cosignature on note verifies."""
    text, lines = split_note(note)
    keys = {}
    for w in witnesses:
        try:
            name, key_id, public = parse_vkey(w, 0x04)
        except Usage as err:
            raise Fail(str(err))
        keys[(name, key_id)] = public
    valid = set()
    for name, blob in lines:
        key = (name, int.from_bytes(blob[:4], "big")) if len(blob) >= 4 else None
        if key not in keys:
            continue
        if len(blob) != 76:
            raise Fail(f"the cosignature by {name} is malformed")
        timestamp = int.from_bytes(blob[4:12], "big")
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
        if not ed25519_verify(keys[key], message, blob[12:]):
            raise Fail(f"the cosignature by {name} does not verify")
        valid.add(key)
    return valid, keys


def parse_checkpoint(text):
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise Fail("the checkpoint is malformed")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise Fail("the checkpoint's size is malformed")
    maps = [l[4:] for l in lines[3:] if l.startswith("map ")]
    if len(maps) != 1:
        raise Fail("the checkpoint signs no subject map root")
    return origin, int(size), hash32(root, "the tree root"), hash32(maps[0], "the map root")


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162, section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def bit(key, depth):
    return (key[depth // 8] >> (7 - depth % 8)) & 1


def map_value(count, last, acc):
    return count.to_bytes(8, "big") + last.to_bytes(8, "big") + acc


def verify_map(root, key, proof):
    """The person's (count, last, acc) in the map, or None when absent."""
    siblings = [hash32(s, "a map proof hash") for s in proof.get("siblings", [])]
    if len(siblings) > 256:
        raise Fail("the map proof is too deep")
    t = proof.get("terminal", {})
    found = None
    if t.get("kind") == "empty":
        h = bytes(32)
    elif t.get("kind") == "leaf":
        other = hash32(t["key"], "the map proof's leaf key")
        if any(bit(other, d) != bit(key, d) for d in range(len(siblings))):
            raise Fail("the map proof ends in another key's leaf off the person's path")
        value = (int(t["count"]), int(t["last"]), hash32(t["acc"], "the map value"))
        h = sha256(b"\x00", other, map_value(*value))
        if other == key:
            found = value
    else:
        raise Fail("the map proof's terminal is malformed")
    for d in reversed(range(len(siblings))):
        h = sha256(b"\x01", siblings[d], h) if bit(key, d) else sha256(b"\x01", h, siblings[d])
    if h != root:
        raise Fail("the map proof does not lead to the map root the checkpoint signs (a stale or forged map proof)")
    return found


def shown_matches(shown, e):
    t = datetime.datetime.fromisoformat(shown["time"])
    micros = (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)
    return (
        micros == e["time_us"]
        and shown["action"] == e["action"]
        and shown["outcome"] == e["outcome"]
        and shown["purpose"] == e["purpose"]
        and shown["roles"] == e["roles"]
        and shown["clear"] == e["released"]
        and shown["masked"] == e["masked"]
        and shown["withheld"] == e["withheld"]
        and (shown["by"] == "custos") == (e["actor"] == "system")
    )


def verify(report, vkey):
    if report.get("format") != FORMAT:
        raise Fail(f"not a {FORMAT} report")
    subject = report["subject"]
    origin, size, root, map_root = parse_checkpoint(open_checkpoint(report["checkpoint"], vkey))
    if origin != report["log"]["origin"] or size != report["tree_size"]:
        raise Fail("the report's log or size is not the checkpoint's")
    key = sha256(b"custos subject map v1\n", origin.encode(), b"\n", subject.encode())
    if b64(report["map"]["key"], "the map key") != key:
        raise Fail("the map key is not the person's")
    committed = verify_map(map_root, key, report["map"]["proof"])
    acc, prev, last = bytes(32), -1, None
    for item in report["entries"]:
        seq = item["seq"]
        if not isinstance(seq, int) or seq <= prev:
            raise Fail(f"entry {seq} is out of order")
        if seq >= size:
            raise Fail(f"entry {seq} is beyond the checkpoint")
        raw = b64(item["raw"], f"entry {seq}")
        try:
            e, _ = decode(raw)
        except (BadEntry, UnicodeDecodeError) as err:
            raise Fail(f"entry {seq} does not decode: {err}")
        if e["seq"] != seq:
            raise Fail(f"entry {seq} holds sequence number {e['seq']}")
        if subject not in e["subjects"]:
            raise Fail(f"entry {seq} does not name {subject}")
        leaf = sha256(b"\x00", raw)
        proof = [hash32(h, f"entry {seq}'s proof") for h in item["inclusion"]]
        if not verify_inclusion(seq, size, leaf, proof, root):
            raise Fail(f"entry {seq}'s inclusion proof does not verify against the checkpoint")
        if not shown_matches(item["shown"], e):
            raise Fail(f"what the report shows of entry {seq} is not what the entry says")
        acc, prev, last = sha256(acc, leaf), seq, seq
    n = len(report["entries"])
    if committed is None:
        if n:
            raise Fail("the map says no entry names the person, the report lists some")
    elif committed != (n, last, acc):
        if committed[0] != n:
            raise Fail(f"the map commits to {committed[0]} entries about the person, the report lists {n}: entries are missing or added")
        raise Fail("the entries listed are not the ones the map commits to (one dropped, swapped or reordered)")
    return size, n


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'<script type="application/json" id="custos-access-report">(.*?)</script>', text, re.S)
    return json.loads(m.group(1) if m else text)


def main():
    args, vkey, witnesses, quorum = [], None, [], None
    it = iter(sys.argv[1:])
    try:
        for a in it:
            if a == "--verifier-key":
                vkey = next(it)
            elif a == "--witness":
                witnesses.append(next(it))
            elif a == "--quorum":
                quorum = int(next(it))
            else:
                args.append(a)
    except (StopIteration, ValueError):
        args = []
    if len(args) != 1 or (quorum is not None and not 1 <= quorum <= len(set(witnesses))):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        report = load(args[0])
    except (OSError, ValueError) as err:
        print(f"cannot read the report: {err}", file=sys.stderr)
        return 2
    try:
        size, n = verify(report, vkey or report["log"]["verifier_key"])
        if witnesses:
            valid, keys = cosigned_by(report["checkpoint"], witnesses)
            if len(valid) < (quorum or 1):
                missing = ", ".join(f"{k[0]}+{k[1]:08x}" for k in keys if k not in valid) or "none"
                raise Fail(f"witness quorum not met: {len(valid)} of {quorum or 1} cosignatures (missing: {missing})")
    except (Fail, KeyError, TypeError, ValueError) as err:
        what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
        print(f"FAILED: {what}")
        return 1
    print(f"complete and consistent with checkpoint {size}: {n} entries about {report['subject']}")
    if witnesses:
        print(f"cosigned by {len(valid)} of the witnesses given")
    if not vkey:
        print("note: checked with the verifier key inside the report; compare it with the one the organisation publishes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
