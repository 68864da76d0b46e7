"""Walks the URL conf so route-level tests cover every route, including ones added later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, e.g. "segments:contact_detail"
    params: tuple[str, ...]
    callback: Any

    @property
    def takes_object_id(self) -> bool:
        return bool(self.params)


def _params(pattern: Any) -> tuple[str, ...]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return tuple(converters)
    regex = getattr(pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def walk(resolver: URLResolver | None = None, namespace: str = "", params: tuple[str, ...] = ()) -> list[Route]:
    resolver = resolver or get_resolver()
    routes: list[Route] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            child_namespace = namespace
            if entry.namespace:
                child_namespace = f"{namespace}{entry.namespace}:"
            routes.extend(walk(entry, child_namespace, params + _params(entry.pattern)))
        elif isinstance(entry, URLPattern):
            if entry.name is None:
                raise AssertionError(f"Route {entry.pattern} has no name; every route needs one.")
            routes.append(Route(f"{namespace}{entry.name}", params + _params(entry.pattern), entry.callback))
    return routes


def view_marker(callback: Any) -> tuple[str, str | None]:
    """How a view declares its access: ("permission", code), ("public", None) or
    ("login_only", None); ("none", None) if it declares nothing."""
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    code = getattr(callback, "sealpost_permission", None) or getattr(view_class, "required_permission", None)
    if code:
        return "permission", code
    if getattr(callback, "sealpost_public", False):
        return "public", None
    if getattr(callback, "sealpost_login_only", False):
        return "login_only", None
    return "none", None


def is_api(route: Route) -> bool:
    return route.name.startswith("api:")
