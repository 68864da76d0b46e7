"""Field encryption rates on one core (``make bench``): AES-256-GCM with a random nonce and the
tenant/table/field/row bound as associated data, as ``encryption.aead`` does it."""

from __future__ import annotations

import os
import time

import django

FIELDS = 200_000
VALUE = "Synthetic Patient Name 0000"  # a typical short PHI attribute


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_keys", verbosity=0)
    from encryption.aead import FieldContext, decrypt_text, encrypt_text
    from tenants.context import tenant_context
    from tenants.models import Organisation

    tenant, _ = Organisation.objects.get_or_create(slug="bench", defaults={"name": "Benchmark organisation"})
    contexts = [FieldContext("segments_contact", "last_name", f"row-{n}") for n in range(FIELDS)]
    with tenant_context(tenant):
        encrypt_text(tenant, contexts[0], VALUE)  # create and unwrap the key outside the timing
        started = time.perf_counter()
        ciphertexts = [encrypt_text(tenant, context, VALUE) for context in contexts]
        encrypt_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for context, ciphertext in zip(contexts, ciphertexts, strict=True):
            decrypt_text(tenant, context, ciphertext)
        decrypt_seconds = time.perf_counter() - started
    print(f"RESULT field_encrypt_rate {FIELDS / encrypt_seconds:.0f} fields/s", flush=True)
    print(f"RESULT field_decrypt_rate {FIELDS / decrypt_seconds:.0f} fields/s", flush=True)
