#!/usr/bin/env python3
"""Independent computation of the known answers in docs/WITNESS.md, from the
C2SP specifications alone (RFC 6962 hashing, signed-note, tlog-checkpoint,
tlog-cosignature, tlog-witness), with Python's `cryptography` for Ed25519.
Not run by CI (tests/known_answers.rs checks the Rust code against the same
bytes in the document); run by hand: python3 witness/tests/kat_independent.py
"""
import base64, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

b64 = lambda b: base64.b64encode(b).decode()
raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw

def leaf(d): return hashlib.sha256(b"\x00" + d).digest()
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()
def mth(ls):
    if len(ls) == 0: return hashlib.sha256(b"").digest()
    if len(ls) == 1: return leaf(ls[0])
    k = 1
    while k * 2 < len(ls): k *= 2
    return node(mth(ls[:k]), mth(ls[k:]))
def subproof(m, ls, b):  # RFC 6962 2.1.2 SUBPROOF
    n = len(ls)
    if m == n: return [] if b else [mth(ls)]
    k = 1
    while k * 2 < n: k *= 2
    if m <= k: return subproof(m, ls[:k], b) + [mth(ls[k:])]
    return subproof(m - k, ls[k:], False) + [mth(ls[:k])]

def key_id(name, material): return hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]
def sig_line(name, kid, sig): return "\u2014 %s %s\n" % (name, b64(kid + sig))

ORIGIN = "teleconsult.localhost/trace"
WNAME = "witness.example/w1"
wkey = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
lkey = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
wpub = wkey.public_key().public_bytes(*raw)
lpub = lkey.public_key().public_bytes(*raw)
wmat, lmat = b"\x04" + wpub, b"\x01" + lpub
wid, lid = key_id(WNAME, wmat), key_id(ORIGIN, lmat)
out = {}
out["witness-vkey"] = "%s+%s+%s\n" % (WNAME, wid.hex(), b64(wmat))
out["witness-key-file"] = "PRIVATE+KEY+%s+%s+%s\n" % (WNAME, wid.hex(), b64(b"\x04" + bytes(range(32))))
out["log-vkey"] = "%s+%s+%s\n" % (ORIGIN, lid.hex(), b64(lmat))
leaves = [b"leaf-%d" % i for i in range(7)]

def checkpoint(n): return ("%s\n%d\n%s\n" % (ORIGIN, n, b64(mth(leaves[:n])))).encode()
def log_note(n):
    text = checkpoint(n)
    return text + b"\n" + sig_line(ORIGIN, lid, lkey.sign(text)).encode()
def cosign(n, t):
    msg = b"cosignature/v1\ntime %d\n" % t + checkpoint(n)
    return msg, sig_line(WNAME, wid, struct.pack(">Q", t) + wkey.sign(msg)).encode()

out["request-1"] = b"old 0\n\n" + log_note(3)
msg1, line1 = cosign(3, 1679315147)
out["signed-message-1"] = msg1
out["answer-1"] = line1
out["request-2"] = b"old 3\n" + b"".join(b64(h).encode() + b"\n" for h in subproof(3, leaves, True)) + b"\n" + log_note(7)
msg2, line2 = cosign(7, 1679315200)
out["answer-2"] = line2
out["held-file"] = log_note(7) + line2
out["stale-request"] = b"old 0\n\n" + log_note(7)
out["answer-409"] = b"7\n"
for k, v in out.items():
    v = v.decode() if isinstance(v, bytes) else v
    print("```text kat=%s\n%s```\n" % (k, v))
