#!/usr/bin/env python3
"""The receiving side of Web Push for rustig's tests, written with code rustig did not write:
`http_ece` (RFC 8188/8291 decryption) and `py_vapid` (RFC 8292 token verification).

    webpush_check.py keys     -> {"private_key": <PKCS#8 DER, base64>, "p256dh": ..., "auth": ...}
    webpush_check.py verify   <- JSON on stdin {"private_key", "auth", "body" (base64),
                                 "authorization"}; -> {"payload": ..., "claims": ..., "k": ...}
"""
import base64
import json
import os
import sys

import http_ece
import py_vapid.jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def keys():
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    print(json.dumps({
        "private_key": base64.b64encode(der).decode(),
        "p256dh": b64url(public),
        "auth": b64url(os.urandom(16)),
    }))


def verify():
    req = json.load(sys.stdin)
    key = serialization.load_der_private_key(base64.b64decode(req["private_key"]), None)
    plain = http_ece.decrypt(
        base64.b64decode(req["body"]),
        private_key=key,
        auth_secret=b64url_decode(req["auth"]),
        version="aes128gcm",
    )
    # Authorization: vapid t=<JWT>, k=<public key>
    scheme, _, params = req["authorization"].partition(" ")
    assert scheme.lower() == "vapid", scheme
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    claims = py_vapid.jwt.decode(fields["t"], fields["k"])
    print(json.dumps({"payload": plain.decode("utf-8"), "claims": claims, "k": fields["k"]}))


if __name__ == "__main__":
    {"keys": keys, "verify": verify}[sys.argv[1]]()
