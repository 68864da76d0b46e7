"""A software WebAuthn authenticator for server-side tests: it makes real registration and
assertion responses (ECDSA P-256, "none" attestation) and can be told to misbehave — no user
verification, another origin, a cross-origin iframe, a bad signature, a counter that goes back —
so each of the server's checks is exercised with a response that is otherwise valid. The browser
tests use Chromium's own virtual authenticator instead."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    rp_id: str
    origin: str
    credentials: list[SoftCredential] = field(default_factory=list)

    # --- registration -----------------------------------------------------------------------

    def create(
        self,
        options_json: str,
        *,
        user_verified: bool = True,
        origin: str | None = None,
        cross_origin: bool = False,
        credential_id: bytes | None = None,
    ) -> dict:
        options = json.loads(options_json)
        private_key = ec.generate_private_key(ec.SECP256R1())
        credential = SoftCredential(
            credential_id=credential_id or secrets.token_bytes(32),
            private_key=private_key,
            user_handle=base64url_to_bytes(options["user"]["id"]),
        )
        self.credentials.append(credential)
        numbers = private_key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        attested = bytes(16) + struct.pack(">H", len(credential.credential_id)) + credential.credential_id + cose_key
        flags = UP | AT | (UV if user_verified else 0)
        auth_data = self._rp_hash(options["rp"]["id"]) + bytes([flags]) + struct.pack(">I", 0) + attested
        client_data = self._client_data("webauthn.create", options["challenge"], origin, cross_origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._credential(
            credential.credential_id,
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
        )

    # --- assertions -------------------------------------------------------------------------

    def get(
        self,
        options_json: str,
        credential: SoftCredential | None = None,
        *,
        user_verified: bool = True,
        origin: str | None = None,
        cross_origin: bool = False,
        bad_signature: bool = False,
        sign_count: int | None = None,
        rp_id: str | None = None,
        user_handle: bytes | None = None,
    ) -> dict:
        options = json.loads(options_json)
        credential = credential or self.credentials[-1]
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        flags = UP | (UV if user_verified else 0)
        auth_data = (
            self._rp_hash(rp_id or options.get("rpId", self.rp_id))
            + bytes([flags])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin, cross_origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if bad_signature:
            signature = credential.private_key.sign(signed + b"tampered", ec.ECDSA(hashes.SHA256()))
        handle = credential.user_handle if user_handle is None else user_handle
        return self._credential(
            credential.credential_id,
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(handle),
            },
        )

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _rp_hash(rp_id: str) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest()

    def _client_data(self, kind: str, challenge: str, origin: str | None, cross_origin: bool) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": cross_origin}
        ).encode()

    @staticmethod
    def _credential(credential_id: bytes, response: dict) -> dict:
        encoded = bytes_to_base64url(credential_id)
        return {
            "id": encoded,
            "rawId": encoded,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
