"""The Flask face: a before-request validator for the protected blueprints."""

from __future__ import annotations

import json
from typing import Mapping, Optional
from flask import Flask, Response, current_app, g, request

from .authn import Authenticator
from .errors import TokenError


def install(app: Flask, authenticator: Authenticator) -> None:
    """Require a valid bearer token on every request routed to one of ``blueprints``.

    Registered on the app, not on the blueprints, so blueprints registered after
    this call (Superset registers its views and ``BLUEPRINTS`` after
    ``FLASK_APP_MUTATOR``) are covered as well; nested blueprints count by
    their parents' names too.
    """

    settings = authenticator.settings
    blueprints = settings.protected_blueprints

    def require_bearer_token() -> Response | None:
        if request.method == "OPTIONS" or blueprints.isdisjoint(request.blueprints):
            return None
        try:
            identity = authenticator.authenticate(
                request.headers.getlist("Authorization"),
                current_app.appbuilder.sm,
                client=request.headers.get("User-Agent"),
            )
        except TokenError as error:
            return rejection_response(error, authenticator.challenge)
        # The user for this request only: g.user for Superset and FAB, and
        # Flask-Login's per-request slot. No session is written, so the token
        # never becomes a login for the rest of the site.
        g.user = identity.user
        g._login_user = identity.user
        g.mcp_jwt_claims = identity.claims
        return None

    app.before_request(require_bearer_token)


def rejection_response(error: TokenError, challenge: Mapping[str, Optional[str]]) -> Response:
    """The RFC 6750 response for a rejected token (or a 503 outage): status, headers, generic body."""
    return Response(
        json.dumps(error.body()),
        status=error.status,
        mimetype="application/json",
        headers=error.headers(**challenge),
    )
