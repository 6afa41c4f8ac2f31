#!/usr/bin/env python3
"""An independent DSSE v1 signer and verifier for firedrill's interoperability tests.

Uses only Python's standard library and the `cryptography` package (Debian's
python3-cryptography); the pre-authentication encoding is computed here from the DSSE
specification, not taken from firedrill.

  dsse.py verify ENVELOPE PUBLIC_KEY.pem [--artifacts DIR]
      exit 0 when a signature verifies and the payload is an in-toto Statement v1 (and, with
      --artifacts, every subject's SHA-256 matches the file of that name under DIR), else 1
  dsse.py keygen ed25519|p256 PRIVATE.pem PUBLIC.pem
  dsse.py sign STATEMENT.json PRIVATE.pem ENVELOPE
      signs the file's bytes exactly as they are
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def pae(payload_type: bytes, body: bytes) -> bytes:
    """DSSEv1 SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body)


def b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as DSSE requires a verifier to accept."""
    text = text.strip()
    text += "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(text)
    return base64.b64decode(text, validate=True)


def key_id(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def signature_valid(public_key, message: bytes, signature: bytes) -> bool:
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
            if len(signature) == 64:
                signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                                 int.from_bytes(signature[32:], "big"))
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except InvalidSignature:
        return False


def verify(arguments) -> int:
    with open(arguments.public_key, "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    with open(arguments.envelope, "rb") as f:
        envelope = json.load(f)
    try:
        payload_type = envelope["payloadType"]
        payload = b64decode(envelope["payload"])
        signatures = [b64decode(s["sig"]) for s in envelope["signatures"]]
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        print(f"not a DSSE envelope: {error}")
        return 1
    message = pae(payload_type.encode(), payload)
    if not any(signature_valid(public_key, message, signature) for signature in signatures):
        print("no signature verifies with the key")
        return 1
    if payload_type != PAYLOAD_TYPE:
        print(f"payload type {payload_type!r}")
        return 1
    statement = json.loads(payload)  # the verified bytes, never the envelope's other fields
    if statement.get("_type") != STATEMENT_TYPE:
        print(f"statement type {statement.get('_type')!r}")
        return 1
    checked = 0
    if arguments.artifacts:
        for subject in statement["subject"]:
            path = os.path.join(arguments.artifacts, subject["name"])
            try:
                with open(path, "rb") as f:
                    actual = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                print(f"subject {subject['name']} missing")
                return 1
            if actual != subject["digest"]["sha256"]:
                print(f"subject {subject['name']} changed")
                return 1
            checked += 1
    print(f"verified {statement['predicateType']} with key {key_id(public_key)}; {checked} subjects checked")
    return 0


def keygen(arguments) -> int:
    private_key = ed25519.Ed25519PrivateKey.generate() if arguments.algorithm == "ed25519" \
        else ec.generate_private_key(ec.SECP256R1())
    with open(arguments.private_key, "wb") as f:
        f.write(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with open(arguments.public_key, "wb") as f:
        f.write(private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return 0


def sign(arguments) -> int:
    with open(arguments.private_key, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(arguments.statement, "rb") as f:
        payload = f.read()
    message = pae(PAYLOAD_TYPE.encode(), payload)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        signature = private_key.sign(message)
    else:
        signature = private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode()}],
    }
    with open(arguments.envelope, "w") as f:
        json.dump(envelope, f)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("verify")
    p.add_argument("envelope")
    p.add_argument("public_key")
    p.add_argument("--artifacts")
    p.set_defaults(run=verify)
    p = commands.add_parser("keygen")
    p.add_argument("algorithm", choices=["ed25519", "p256"])
    p.add_argument("private_key")
    p.add_argument("public_key")
    p.set_defaults(run=keygen)
    p = commands.add_parser("sign")
    p.add_argument("statement")
    p.add_argument("private_key")
    p.add_argument("envelope")
    p.set_defaults(run=sign)
    arguments = parser.parse_args()
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
