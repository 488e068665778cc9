#!/usr/bin/env python3
"""Independent verifier for custos access reports, written from
docs/audit-format.md ("Access reports") alone.

Usage: verify_access_report.py REPORT [--verifier-key KEY]

REPORT is the JSON of GET /v1/subjects/{sid}/access-report, or the HTML
page (?format=html), which carries the same JSON. KEY is the log's verifier
key as the organisation publishes it (GET /v1/audit/verifier-key); without
it the key inside the report is used, and the output says so.

Checks, without access to custos, that every entry listed is in the log the
signed checkpoint commits to, that each names the person, that what the
report shows of each matches the entry, and that no entry about the person
up to the checkpoint is missing (the subject map's proof). Prints
"complete and consistent with checkpoint N" and exits 0; names what fails
and exits 1; exits 2 when the file cannot be read at all.

Needs Python 3.11 and one Ed25519 package: `cryptography`
(Debian: python3-cryptography).
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
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise Fail("the verifier key is malformed")
    name, key_hash, key = parts[0], bytes.fromhex(parts[1]), b64(parts[2], "the verifier key")
    if len(key) != 33 or key[0] != 1 or sha256(name.encode() + b"\n" + key)[:4] != key_hash:
        raise Fail("the verifier key is malformed")
    public = Ed25519PublicKey.from_public_bytes(key[1:])
    split = note.rfind("\n\n")
    if split < 0:
        raise Fail("the checkpoint has no signature")
    text, sigs = note[: split + 1], note[split + 2 :]
    for line in sigs.split("\n"):
        if not line.startswith(SIG_PREFIX):
            continue
        signer, _, blob = line[len(SIG_PREFIX) :].partition(" ")
        blob = b64(blob, "a checkpoint signature")
        if signer != name or len(blob) != 68 or blob[:4] != key_hash:
            continue
        try:
            public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Fail("the checkpoint's signature does not verify")
        return text
    raise Fail("the checkpoint is not signed by the verifier key")


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
    args = sys.argv[1:]
    vkey = None
    if "--verifier-key" in args:
        i = args.index("--verifier-key")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        vkey = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        report = load(args[0])
    except (OSError, ValueError) as err:
        print(f"cannot read the report: {err}", file=sys.stderr)
        return 2
    try:
        size, n = verify(report, vkey or report["log"]["verifier_key"])
    except (Fail, KeyError, TypeError, ValueError) as err:
        what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
        print(f"FAILED: {what}")
        return 1
    print(f"complete and consistent with checkpoint {size}: {n} entries about {report['subject']}")
    if not vkey:
        print("note: checked with the verifier key inside the report; compare it with the one the organisation publishes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
