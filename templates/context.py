"""What a template is rendered with: plain dicts built from the contact, the organisation, the
event and the recipient's links, holding only merge fields (the sandbox never sees a model).

``sample_context`` builds the synthetic values previews use by default; ``masked`` replaces
every PHI value with a mask, for previews of a real contact shown without a step-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segments.attributes import contact_attribute_values
from segments.models import Contact
from templates.fields import MergeField
from tenants.models import Organisation

PHI_MASK = "•••"


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """{"contact.first_name": "A"} -> {"contact": {"first_name": "A"}}."""
    tree: dict[str, Any] = {}
    for name, value in values.items():
        root, _, rest = name.partition(".")
        tree.setdefault(root, {})[rest] = value
    return tree


def sample_context(catalogue: Mapping[str, MergeField]) -> dict[str, Any]:
    return _nest({name: field.sample for name, field in catalogue.items()})


def contact_values(contact: Contact, organisation: Organisation) -> dict[str, Any]:
    """The merge values a real contact and its organisation give (decrypts the contact's PHI:
    run inside its tenant)."""
    values: dict[str, Any] = {
        "contact.first_name": contact.first_name,
        "contact.last_name": contact.last_name,
        "contact.full_name": contact.full_name,
        "contact.email": contact.email,
        "contact.external_id": contact.external_id,
        "contact.language": contact.language,
        "contact.time_zone": contact.time_zone,
        "org.name": organisation.name,
    }
    for key, value in contact_attribute_values(contact).items():
        values[f"attr.{key}"] = value
    return values


def render_context(
    catalogue: Mapping[str, MergeField],
    *,
    values: Mapping[str, Any] | None = None,
    mask_phi: bool = False,
) -> dict[str, Any]:
    """Sample values overlaid with ``values`` (a contact's, an event's); with ``mask_phi`` every
    PHI field shows ``PHI_MASK`` instead (lists of PHI become one masked item)."""
    merged = {name: field.sample for name, field in catalogue.items()}
    merged.update({name: value for name, value in (values or {}).items() if name in catalogue})
    if mask_phi:
        for name, field in catalogue.items():
            if field.phi:
                merged[name] = [{"description": PHI_MASK, "amount": PHI_MASK}] if field.kind == "list" else PHI_MASK
    return _nest(merged)
