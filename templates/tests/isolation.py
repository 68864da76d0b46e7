"""Objects of tenant A for tests/test_isolation.py's templates routes, and the checks that B's
attempts changed nothing."""

from __future__ import annotations

import itertools
from typing import Any

from audit.tests.helpers import actions
from templates.models import TemplateReview, TemplateVersion
from templates.services import version_submit
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role

_names = itertools.count(1)


def _draft(world) -> TemplateVersion:
    return make_template(world.a.tenant, world.a.users[Role.MARKETER], name=f"Isolation {next(_names)}")


def template_kwargs(world) -> dict[str, Any]:
    return {"template_id": _draft(world).template_id}


def version_kwargs(world) -> dict[str, Any]:
    return {"version_id": _draft(world).pk}


def in_review_kwargs(world) -> dict[str, Any]:
    """A version a marketer submitted: a compliance officer of A may decide on it."""
    version = _draft(world)
    with tenant_context(world.a.tenant):
        version_submit(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], version=version)
    return {"version_id": version.pk}


def _state(world, **lookup: Any) -> tuple[list[tuple[int, str]], int, int]:
    with tenant_context(world.a.tenant):
        version = TemplateVersion.objects.for_tenant(world.a.tenant).get(**lookup)
        versions = list(
            TemplateVersion.objects.for_tenant(world.a.tenant)
            .filter(template_id=version.template_id)
            .values_list("number", "status")
        )
        reviews = TemplateReview.objects.for_tenant(world.a.tenant).filter(version__template_id=version.template_id)
        return versions, reviews.count(), actions(world.a.tenant).count("template.test_sent")


def template_unchanged(world, kwargs) -> bool:
    return _state(world, template_id=kwargs["template_id"], number=1) == ([(1, "draft")], 0, 0)


def draft_unchanged(world, kwargs) -> bool:
    return _state(world, pk=kwargs["version_id"]) == ([(1, "draft")], 0, 0)


def in_review_unchanged(world, kwargs) -> bool:
    return _state(world, pk=kwargs["version_id"]) == ([(1, "in_review")], 1, 0)


def listed_address_kwargs(world) -> dict[str, Any]:
    from templates.test_sends import allowed_address_add

    with tenant_context(world.a.tenant):
        address = allowed_address_add(
            tenant=world.a.tenant, user=world.a.users[Role.ADMIN], email="qa-inbox@a.example.com"
        )
    return {"address_id": address.pk}


def listed_address_kept(world, kwargs) -> bool:
    from templates.models import AllowedTestAddress

    with tenant_context(world.a.tenant):
        return AllowedTestAddress.objects.for_tenant(world.a.tenant).filter(pk=kwargs["address_id"]).exists()
