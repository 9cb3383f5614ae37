"""The MCP server as an OAuth protected resource: its RFC 9728 metadata and challenge."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from ..settings import Settings

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(resource: str) -> str:
    """The path of ``resource``'s metadata: the well-known prefix before its path (RFC 9728 §3.1)."""
    path = urlsplit(resource).path.rstrip("/")
    return WELL_KNOWN + path


def metadata_url(resource: str) -> str:
    """The absolute URL of ``resource``'s protected resource metadata."""
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, metadata_path(resource), "", ""))


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    """The RFC 9728 document: this resource, its authorization server, scopes, header-only bearer."""
    oauth = settings.oauth
    return {
        "resource": oauth.resource,
        "authorization_servers": [oauth.issuer],
        "scopes_supported": list(oauth.scopes_supported),
        "bearer_methods_supported": ["header"],
        "resource_name": "Apache Superset MCP",
    }


def challenge(settings: Settings) -> dict[str, Optional[str]]:
    """What every ``WWW-Authenticate: Bearer`` challenge carries besides the error.

    With OAuth on: where to discover the authorization server
    (``resource_metadata``, RFC 9728 §5.1) and which scope to ask for.
    """
    oauth = settings.oauth
    if oauth is None:
        return {"realm": settings.realm}
    scopes = settings.required_scopes or tuple(oauth.default_scopes)
    return {
        "realm": settings.realm,
        "resource_metadata": metadata_url(oauth.resource),
        "scope": " ".join(scopes),
    }
