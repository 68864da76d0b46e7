"""Views that read and write on one path: ``required_permission``/``required_scope`` (what
tests/test_roles.py and the GET requests check) are for reading; ``write_permission`` and
``write_scope`` replace them for POST, PUT, PATCH and DELETE before DRF checks permissions."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request


class WriteScopeMixin:
    required_permission: str
    required_scope: str
    write_permission: str = "contacts.write"
    write_scope: str = "contacts:write"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method not in SAFE_METHODS:
            # Instance attributes: the class keeps declaring the read access for GET.
            self.required_permission = self.write_permission
            self.required_scope = self.write_scope
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
