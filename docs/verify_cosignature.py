#!/usr/bin/env python3
"""Independent check of witness cosignatures on a custos checkpoint,
written from the C2SP texts alone (signed-note, tlog-checkpoint,
tlog-cosignature), with the standard library only: Ed25519 verification is
RFC 8032 section 5.1.7, as docs/verify_audit.py keeps to no outside
package.

Usage:
  verify_cosignature.py NOTE --witness VKEY [--witness VKEY ...]
                        [--quorum K] [--log-key VKEY]

NOTE is a cosigned checkpoint (GET /v1/audit/checkpoint/cosigned, or
<data-dir>/checkpoints/latest.cosigned.note). Each --witness is a
witness's verifier key, <name>+<hex key id>+<base64(0x04 || public key)>;
--log-key, the log's, <name>+<hex key id>+<base64(0x01 || public key)>.
Prints each valid cosignature with its time; exits 0 when at least K
distinct witnesses (default 1) cosigned and the log's signature (if a key
is given) verifies, 1 when not or when a cosignature by a given key does
not verify, 2 on a usage error.
"""
import base64
import hashlib
import struct
import sys

# --- Ed25519 verification (RFC 8032, 5.1) --------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = t1 * 2 * D * t2 % P
    dd = z1 * 2 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a, b):
    x1, y1, z1, _ = a
    x2, y2, z2, _ = b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % P)


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decompress(public)
    r = _decompress(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % L
    return _equal(_mul(s, _G), _add(r, _mul(k, a)))


# --- signed notes and verifier keys (C2SP signed-note) --------------------


class Usage(Exception):
    pass


def parse_vkey(vkey, sig_type):
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise Usage("malformed verifier key: %s" % vkey)
    name, key_id, raw = parts[0], int(parts[1], 16), base64.b64decode(parts[2], validate=True)
    if len(raw) != 33 or raw[0] != sig_type:
        raise Usage("verifier key %s is not of signature type 0x%02x" % (name, sig_type))
    if not name or any(c.isspace() for c in name):
        raise Usage("malformed key name: %r" % name)
    public = raw[1:]
    # key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
    expected = struct.unpack(">I", hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4])[0]
    if expected != key_id:
        raise Usage("verifier key %s: the key id does not match the key" % name)
    return name, key_id, public


def split_note(note):
    """The text (with its final newline) and the signature lines."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise ValueError("not a signed note")
    text, sigs = note[: cut + 1], note[cut + 2:]
    lines = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        name, _, b64 = line[2:].partition(" ")
        lines.append((name, base64.b64decode(b64, validate=True)))
    return text, lines


def main(argv):
    args, witnesses, quorum, log_key = [], [], 1, None
    it = iter(argv)
    for a in it:
        if a == "--witness":
            witnesses.append(next(it, ""))
        elif a == "--quorum":
            quorum = int(next(it, "0"))
        elif a == "--log-key":
            log_key = next(it, "")
        else:
            args.append(a)
    if len(args) != 1 or not witnesses:
        raise Usage(__doc__)
    keys = {}
    for w in witnesses:
        name, key_id, public = parse_vkey(w, 0x04)
        keys[(name, key_id)] = public
    if not 1 <= quorum <= len(keys):
        raise Usage("--quorum must be between 1 and the number of distinct witness keys (%d)" % len(keys))
    with open(args[0], encoding="utf-8") as f:
        note = f.read()
    text, lines = split_note(note)
    origin, size = text.split("\n")[0], text.split("\n")[1]
    if log_key is not None:
        name, key_id, public = parse_vkey(log_key, 0x01)
        ok = any(
            n == name and len(blob) == 68 and struct.unpack(">I", blob[:4])[0] == key_id
            and ed25519_verify(public, text.encode(), blob[4:])
            for n, blob in lines
        )
        if not ok:
            print("log signature by %s does NOT verify" % name)
            return 1
        print("log signature by %s verifies: %s, tree size %s" % (name, origin, size))
    valid = set()
    for name, blob in lines:
        if len(blob) < 4:
            continue
        key_id = struct.unpack(">I", blob[:4])[0]
        public = keys.get((name, key_id))
        if public is None:
            continue  # another signer's line: ignored, as the spec says
        if len(blob) != 4 + 8 + 64:
            print("cosignature by %s+%08x is malformed" % (name, key_id))
            return 1
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        message = ("cosignature/v1\ntime %d\n" % timestamp).encode() + text.encode()
        if timestamp > 2**63 - 1 or not ed25519_verify(public, message, blob[12:]):
            print("cosignature by %s+%08x does NOT verify" % (name, key_id))
            return 1
        print("cosignature by %s+%08x verifies: time %d" % (name, key_id, timestamp))
        valid.add((name, key_id))
    if len(valid) < quorum:
        missing = ["%s+%08x" % k for k in keys if k not in valid]
        print("quorum NOT met: %d of %d cosignatures; none from %s" % (len(valid), quorum, ", ".join(missing)))
        return 1
    print("quorum met: %d of %d witnesses cosigned %s at tree size %s" % (len(valid), quorum, origin, size))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Usage as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    except (ValueError, OSError) as e:
        print("cannot read the note: %s" % e)
        sys.exit(1)
