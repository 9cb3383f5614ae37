"""The CLI face: ``superset mcp-jwt ...`` (or ``flask mcp-jwt ...``) and ``superset-mcp-jwt``.

``superset mcp-jwt`` reads the same settings as the server (the app's config,
e.g. ``SUPERSET_CONFIG_PATH``) and checks users in its metadata database. The
standalone ``superset-mcp-jwt`` signs tokens where no Superset config exists.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import click
import jwt
from cryptography.hazmat.primitives import serialization
from flask import current_app
from flask.cli import with_appcontext

from . import superset_compat
from .errors import ConfigError, Reason, TokenError
from .identity import Identity, resolve_identity
from .keys import HMAC_ALGORITHMS, load_private_key
from .oauth.service import OAuthService
from .oauth.store import StoreUnavailable
from .registry import get_manager
from .settings import Settings
from .tokens import TokenVerifier, sign_token

_TTL = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``24h`` or ``7d`` as seconds (> 0)."""
    match = _TTL.fullmatch(text.strip().lower())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if seconds <= 0:
        raise click.BadParameter("use a positive duration such as 3600, 90m, 24h or 7d")
    return seconds


def _parse_claims(pairs: tuple[str, ...]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--claim")
        try:
            claims[name] = json.loads(raw)
        except ValueError:
            claims[name] = raw
    return claims


def _token_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--sub", "subject", required=True, help="The Superset user name the token acts as."),
        click.option("--ttl", default="24h", show_default=True, callback=lambda c, p, v: parse_ttl(v),
                     help="Lifetime: seconds, or a number with s/m/h/d."),
        click.option("--scope", "scopes", multiple=True, help="A scope to grant (repeatable)."),
        click.option("--claim", "claims", multiple=True, callback=lambda c, p, v: _parse_claims(v),
                     help="An extra claim NAME=VALUE; VALUE is JSON if it parses (repeatable)."),
        click.option("--private-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="PEM private key, for asymmetric algorithms (RS*/PS*/ES*/EdDSA)."),
        click.option("--kid", help="Key id to stamp on the token (asymmetric algorithms; HS* tokens "
                                   "always carry their secret's own kid)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _sign(settings: Settings, subject: str, ttl: int, scopes: tuple[str, ...],
          claims: dict[str, Any], private_key_file: Optional[Path], kid: Optional[str]) -> str:
    private_key = None
    if private_key_file is not None:
        try:
            private_key = load_private_key(settings.algorithm, private_key_file.read_bytes())
        except (ValueError, ConfigError) as exc:
            raise click.UsageError(f"--private-key-file: {exc}") from None
    try:
        return sign_token(settings, subject, ttl, scopes, claims, private_key=private_key, kid=kid)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (use --private-key-file)" if "private key" in str(exc) else str(exc)) from None


def _expiry(claims: dict[str, Any]) -> str:
    exp = claims["exp"]
    when = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = exp - time.time()
    return f"{when} (in {left / 3600:.1f}h)" if left >= 0 else f"{when} ({-left / 3600:.1f}h ago)"


def _print_secret(nbytes: int) -> None:
    secret = secrets.token_urlsafe(nbytes)
    click.echo(f"# {nbytes} random bytes, URL-safe. Keep it out of git; paste into superset_config.py:", err=True)
    click.echo("MCP_AUTH_ENABLED = True")
    click.echo(f'MCP_JWT_SECRET = "{secret}"')
    click.echo(secret)


_secret_option = click.option(
    "--bytes", "nbytes", default=64, show_default=True, type=click.IntRange(32, 1024),
    help="Random bytes in the secret (64 suits HS256, HS384 and HS512).",
)


# --- superset mcp-jwt ... / flask mcp-jwt ... -----------------------------------


@click.group("mcp-jwt")
def mcp_jwt() -> None:
    """Mint, inspect and explain MCP bearer tokens (superset-mcp-jwt)."""


def _app_settings() -> tuple[Settings, TokenVerifier]:
    try:
        manager = get_manager(current_app)
    except KeyError:
        raise click.ClickException(
            "superset-mcp-jwt is not enabled in this app's config: set "
            "FLASK_APP_MUTATOR = superset_mcp_jwt.init_app"
        ) from None
    if manager.settings is None or manager.verifier is None:
        raise click.ClickException("MCP_AUTH_ENABLED is False in this config: there is no key to use")
    return manager.settings, manager.verifier


def _resolve(claims: dict[str, Any], settings: Settings) -> Identity:
    return resolve_identity(claims, settings, current_app.appbuilder.sm)


@mcp_jwt.command("secret")
@_secret_option
def secret_command(nbytes: int) -> None:
    """Print a new strong secret and the config lines to paste (last line: the secret)."""
    _print_secret(nbytes)


@mcp_jwt.command("token")
@_token_options
@click.option("--no-user-check", is_flag=True, help="Sign even if the user does not exist or is inactive.")
@with_appcontext
def token_command(subject: str, ttl: int, scopes: tuple[str, ...], claims: dict[str, Any],
                  private_key_file: Optional[Path], kid: Optional[str], no_user_check: bool) -> None:
    """Print a token signed as this server verifies it (last line of stdout)."""
    settings, verifier = _app_settings()
    token = _sign(settings, subject, ttl, scopes, claims, private_key_file, kid)
    try:
        verified = verifier.verify(token)
    except TokenError as error:
        raise click.ClickException(
            f"the server would refuse this token: {error.detail} ({error.reason.code})"
        ) from None
    if no_user_check:
        who = f"sub {subject!r} (not checked against the user table)"
    else:
        try:
            identity = _resolve(verified, settings)
        except TokenError as error:
            raise click.ClickException(
                f"refusing to sign: {error.detail} ({error.reason.code}); "
                "use --no-user-check to sign anyway"
            ) from None
        who = f"user {identity.username!r}"
    click.echo(f"# token for {who}, expires {_expiry(verified)}, jti {verified['jti']}", err=True)
    click.echo(token)


@mcp_jwt.command("check")
@click.argument("token", required=False)
@with_appcontext
def check_command(token: Optional[str]) -> None:
    """Verify TOKEN (or stdin) against this config and the user table, and explain."""
    settings, verifier = _app_settings()
    if token is None or token == "-":
        token = sys.stdin.read()
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        claims = verifier.verify(token)
        identity = _resolve(claims, settings)
    except TokenError as error:
        click.echo(f"rejected: {error.reason.code}: {error.detail}")
        if error.reason is Reason.BAD_SIGNATURE:
            _show_unverified(token)
        sys.exit(1)
    roles = ", ".join(sorted(role.name for role in getattr(identity.user, "roles", []))) or "none"
    click.echo("valid")
    click.echo(f"  user:     {identity.username} (active)")
    click.echo(f"  roles:    {roles}")
    click.echo(f"  expires:  {_expiry(claims)}")
    click.echo(f"  issuer:   {claims['iss']}; audience: {claims['aud']}")
    for name in ("jti", "scope", "scp"):
        if name in claims:
            click.echo(f"  {name}:{' ' * (9 - len(name))}{claims[name]}")


@mcp_jwt.command("revoke")
@click.option("--jti", help="Revoke the token with this jti (superset mcp-jwt check shows it).")
@click.option("--sub", "subject", help="Revoke every token of this subject issued up to now.")
@with_appcontext
def revoke_command(jti: Optional[str], subject: Optional[str]) -> None:
    """Revoke tokens on every web and MCP process sharing the revocation store."""
    if bool(jti) == bool(subject):
        raise click.UsageError("give exactly one of --jti and --sub")
    _app_settings()
    revocations = get_manager(current_app).revocations
    if revocations is None:
        raise click.ClickException(
            "no revocation store: set MCP_JWT_REVOCATION_STORE (Superset uses its metadata DB by default)"
        )
    if jti:
        revocations.revoke_jti(jti, until=time.time() + 400 * 86400)
        click.echo(f"revoked jti {jti}")
    else:
        revocations.revoke_subject(subject)
        click.echo(f"revoked every token of {subject!r} issued up to now")
        oauth = get_manager(current_app).oauth
        if oauth is not None:
            try:
                count = oauth.revoke_user(subject)
            except StoreUnavailable as exc:
                raise click.ClickException(f"OAuth connections not revoked: {exc}") from None
            click.echo(f"revoked {count} OAuth connection(s) of {subject!r} (their refresh tokens stop now)")
    delay = get_manager(current_app).settings.revocation_memo_seconds
    click.echo(f"every process sharing the store refuses it within {delay:g}s", err=True)


@mcp_jwt.group("clients")
def clients_group() -> None:
    """OAuth clients registered with this server (MCP_OAUTH_ENABLED)."""


def _oauth_service() -> OAuthService:
    _app_settings()
    service = get_manager(current_app).oauth
    if service is None:
        raise click.ClickException(
            "OAuth is off in this config: set MCP_OAUTH_ENABLED = True "
            "(with MCP_OAUTH_ISSUER and MCP_OAUTH_RESOURCE) to register clients"
        )
    return service


@clients_group.command("list")
@with_appcontext
def clients_list_command() -> None:
    """Print every registered client: id, name, kind, token endpoint auth, redirect URIs, created, live connections."""
    try:
        clients = _oauth_service().clients()
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if not clients:
        click.echo("no OAuth clients registered")
        return
    header = ("CLIENT_ID", "NAME", "KIND", "AUTH", "REDIRECT_URIS", "CREATED", "CONNECTIONS")
    rows = [
        (c.client_id, c.client_name, c.kind, c.token_endpoint_auth_method, " ".join(c.redirect_uris),
         c.created_at.strftime("%Y-%m-%d %H:%M"), str(c.connections))
        for c in clients
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@clients_group.command("revoke")
@click.argument("client_id")
@with_appcontext
def clients_revoke_command(client_id: str) -> None:
    """Remove CLIENT_ID and revoke every connection (refresh and access tokens) made through it."""
    service = _oauth_service()
    try:
        if client_id not in {c.client_id for c in service.clients()}:
            raise click.ClickException(f"no OAuth client {client_id!r} (see: superset mcp-jwt clients list)")
        count = service.revoke_client(client_id)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed client {client_id!r} and revoked {count} connection(s)")
    manager = get_manager(current_app)
    if manager.revocations is None:
        click.echo("no revocation store: its access tokens stay valid until they expire "
                   "(MCP_OAUTH_ACCESS_TOKEN_TTL)", err=True)
    else:
        delay = manager.settings.revocation_memo_seconds
        click.echo(f"its access tokens are refused by every process sharing the store within {delay:g}s",
                   err=True)


@mcp_jwt.group("db")
def db_group() -> None:
    """The extension's tables in Superset's metadata database."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Create or upgrade the extension's tables: OAuth, activity (idempotent; run it next to `superset db upgrade`)."""
    from .oauth import migrations

    engine = superset_compat.metadata_engine(current_app)
    before = migrations.current_revision(engine)
    migrations.upgrade(engine)
    after = migrations.current_revision(engine)
    if before == after:
        click.echo(f"superset-mcp-jwt tables are up to date (revision {after})")
    else:
        click.echo(f"superset-mcp-jwt tables upgraded from {before or 'nothing'} to revision {after}")


#: The revision each release of this package left the tables at (for rollbacks).
RELEASE_REVISIONS = {"0001": "0.1.0"}


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Confirm REVISION base, which deletes every table and row.")
@with_appcontext
def db_downgrade_command(revision: str, yes: bool) -> None:
    """Take the tables back to REVISION, keeping every row (before installing an older release).

    REVISION is the one the older release's `superset mcp-jwt db upgrade` leaves
    (0.1.0: 0001). Refuses an unknown REVISION, one not below the current one,
    base (drops every client and connection) without --yes, and a downgrade below
    0002 while other tables hold release 0.1.0's names; a refused downgrade changes nothing.
    """
    from .oauth import migrations

    engine = superset_compat.metadata_engine(current_app)
    known = migrations.revisions()
    if revision != "base" and revision not in known:
        raise click.BadParameter(f"unknown revision; this release has base, {', '.join(known)}",
                                 param_hint="REVISION")
    current = migrations.current_revision(engine)
    if current is None:
        raise click.ClickException("there are no superset-mcp-jwt tables to downgrade")
    order = ["base", *known]
    if current not in order or order.index(revision) >= order.index(current):
        raise click.ClickException(
            f"the tables are at revision {current}; {revision} is not below it "
            "(to move forward: superset mcp-jwt db upgrade)"
        )
    if revision == "base" and not yes:
        raise click.ClickException(
            "downgrading to base drops every superset-mcp-jwt table with every client and "
            "connection in it; add --yes to do so"
        )
    try:
        migrations.downgrade(engine, revision)
    except RuntimeError as exc:  # a migration's own refusal, rolled back
        raise click.ClickException(str(exc)) from None
    release = f" (release {RELEASE_REVISIONS[revision]}'s schema)" if revision in RELEASE_REVISIONS else ""
    click.echo(f"superset-mcp-jwt tables downgraded from revision {current} to {revision}{release}")
    if revision != "base":
        click.echo("OAuth requests fail until the release that expects this revision runs; "
                   "`superset mcp-jwt db upgrade` moves forward again", err=True)


@mcp_jwt.group("activity")
def activity_group() -> None:
    """The MCP activity records (one per tool call; the MCP access page's Activity section)."""


@activity_group.command("prune")
@click.option("--older-than", "older_than", required=True, callback=lambda c, p, v: parse_ttl(v),
              help="Delete records of calls that started longer ago than this: e.g. 90d, 12h.")
@with_appcontext
def activity_prune_command(older_than: int) -> None:
    """Delete activity records older than --older-than (in batches; safe while the servers run)."""
    from .activity.store import ActivityStore

    _app_settings()
    store = ActivityStore(superset_compat.metadata_engine(current_app))
    if not store.table_exists():
        raise click.ClickException("the activity table is missing; run `superset mcp-jwt db upgrade`")
    before = time.time() - older_than
    deleted = store.prune(before)
    when = datetime.datetime.fromtimestamp(before, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(f"deleted {deleted} activity record(s) of calls before {when}")


def _show_unverified(token: str) -> None:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return
    shown = {k: claims.get(k) for k in ("sub", "iss", "aud", "exp", "iat") if k in claims}
    click.echo(f"  UNVERIFIED header {header}, claims {shown}: signed with another secret, or altered")


# --- superset-mcp-jwt (standalone, no Superset config) ---------------------------


def _public_pem(private_key_file: Path) -> str:
    """The public half of a PEM private key, so the signed token can be checked."""
    try:
        private = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"--private-key-file: not a readable unencrypted PEM private key ({exc.__class__.__name__})") from None
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@click.group("superset-mcp-jwt")
def standalone() -> None:
    """Make secrets and sign MCP tokens without a Superset config (signing machines)."""


@standalone.command("secret")
@_secret_option
def standalone_secret(nbytes: int) -> None:
    """Print a new strong secret and the config lines to paste (last line: the secret)."""
    _print_secret(nbytes)


@standalone.command("token")
@_token_options
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the HS* shared secret from this file instead of $MCP_JWT_SECRET.")
@click.option("--iss", "issuer", default="superset-mcp", show_default=True, help="MCP_JWT_ISSUER of the server.")
@click.option("--aud", "audience", default="superset-mcp-clients", show_default=True,
              help="MCP_JWT_AUDIENCE of the server.")
@click.option("--alg", "algorithm", default="HS256", show_default=True, help="MCP_JWT_ALGORITHM of the server.")
def standalone_token(subject: str, ttl: int, scopes: tuple[str, ...], claims: dict[str, Any],
                     private_key_file: Optional[Path], kid: Optional[str],
                     secret_file: Optional[Path], issuer: str, audience: str, algorithm: str) -> None:
    """Print a token (last line of stdout); the user is not checked.

    HS* tokens are signed with the secret in $MCP_JWT_SECRET or --secret-file:
    never on the command line, where shell history and other users see it.
    """
    secret = secret_file.read_text().strip() if secret_file is not None else os.environ.get("MCP_JWT_SECRET")
    if algorithm in HMAC_ALGORITHMS and not secret:
        raise click.ClickException(
            f"{algorithm} signs with the shared secret: set MCP_JWT_SECRET in the environment "
            "or pass --secret-file"
        )
    config: dict[str, Any] = {
        "MCP_AUTH_ENABLED": True, "MCP_JWT_ISSUER": issuer, "MCP_JWT_AUDIENCE": audience,
        "MCP_JWT_ALGORITHM": algorithm,
    }
    if algorithm in HMAC_ALGORITHMS:
        config["MCP_JWT_SECRET"] = secret
    elif private_key_file is not None:
        config["MCP_JWT_PUBLIC_KEY"] = _public_pem(private_key_file)
    try:
        settings = Settings.from_config(config)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    token = _sign(settings, subject, ttl, scopes, claims, private_key_file, kid)
    verified = TokenVerifier(settings).verify(token)
    click.echo(f"# token for sub {subject!r}, expires {_expiry(verified)}, jti {verified['jti']}", err=True)
    click.echo(token)
