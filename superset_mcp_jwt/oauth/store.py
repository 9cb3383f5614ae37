"""The authorization server's state in Superset's metadata database (SQLAlchemy Core).

Core: takes a SQLAlchemy ``Engine``, never Flask. Codes, refresh tokens, client
secrets and registration access tokens are stored only as SHA-256 hashes. Every single-use step is one conditional
``UPDATE ... WHERE used_at IS NULL`` whose row count picks the one winner, and
a refresh-token family's row is locked (``SELECT ... FOR UPDATE``) while a
token is issued from it or it is revoked, so no process lock is needed and a
revocation never leaves a token of the family alive once it returns.
The tables are created by ``superset mcp-jwt db upgrade`` (:mod:`.migrations`).
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import secrets
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DBConnection
from sqlalchemy.engine import Engine

from .models import Client, ClientInfo, ClientKind, Connection, secret_hash

UPGRADE_COMMAND = "superset mcp-jwt db upgrade"

metadata = sa.MetaData()
#: Every table's name starts with this: none may clash with Superset's own ``mcp_oauth_*`` tables.
TABLE_PREFIX = "superset_mcp_jwt_oauth_"

clients_table = sa.Table(
    TABLE_PREFIX + "clients", metadata,
    sa.Column("client_key", sa.String(64), primary_key=True),  # sha256(client_id): ids may be URLs
    sa.Column("client_id", sa.String(2048), nullable=False),
    sa.Column("client_name", sa.String(255), nullable=False),
    sa.Column("redirect_uris", sa.Text, nullable=False),  # JSON list
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    # Revision 0003: confidential clients, RFC 7592, and the sweep of unused registrations.
    sa.Column("token_endpoint_auth_method", sa.String(32), nullable=False, server_default="none"),
    sa.Column("client_secret_hash", sa.String(64), nullable=True),
    sa.Column("registration_token_hash", sa.String(64), nullable=True, unique=True, index=True),
    sa.Column("sweep_at", sa.BigInteger, nullable=False, server_default="0", index=True),
)
families_table = sa.Table(
    TABLE_PREFIX + "families", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("client_key", sa.String(64), nullable=False, index=True),
    sa.Column("client_id", sa.String(2048), nullable=False),
    sa.Column("client_name", sa.String(255), nullable=False),
    sa.Column("username", sa.String(255), nullable=False, index=True),
    sa.Column("scope", sa.String(255), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)
codes_table = sa.Table(
    TABLE_PREFIX + "codes", metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("client_key", sa.String(64), nullable=False, index=True),
    sa.Column("client_id", sa.String(2048), nullable=False),
    sa.Column("username", sa.String(255), nullable=False, index=True),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("scope", sa.String(255), nullable=False),
    sa.Column("code_challenge", sa.String(128), nullable=False),
    sa.Column("code_challenge_method", sa.String(10), nullable=False),
    sa.Column("resource", sa.String(2048), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("used_at", sa.BigInteger, nullable=True),
    sa.Column("family_id", sa.String(32), nullable=True),
)
refresh_tokens_table = sa.Table(
    TABLE_PREFIX + "refresh_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(32), nullable=False, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("used_at", sa.BigInteger, nullable=True),
    # Answers given to this token after its rotation, within the grace window (revision 0004).
    sa.Column("grace_answers", sa.Integer, nullable=False, server_default="0"),
)
access_tokens_table = sa.Table(
    TABLE_PREFIX + "access_tokens", metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(32), nullable=False, index=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)
TABLES = (clients_table, families_table, codes_table, refresh_tokens_table, access_tokens_table)


class StoreUnavailable(Exception):
    """The metadata database cannot serve the authorization server now (faces answer 503)."""


class TablesMissing(StoreUnavailable):
    """The OAuth tables do not exist: ``superset mcp-jwt db upgrade`` has not run."""

    def __init__(self) -> None:
        super().__init__(f"the MCP OAuth tables are missing; run `{UPGRADE_COMMAND}`")


def client_key(client_id: str) -> str:
    """The clients table's key for a ``client_id`` (which may be a long URL)."""
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CodeRecord:
    """A stored authorization code (Authlib's ``AuthorizationCodeMixin`` shape)."""

    code_hash: str
    client_id: str
    username: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    resource: str
    expires_at: int
    used_at: Optional[int]
    family_id: Optional[str]

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class RefreshRecord:
    """A stored refresh token with its family."""

    token_hash: str
    family_id: str
    client_id: str
    username: str
    scope: str
    expires_at: int
    used_at: Optional[int]
    family_revoked: bool

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.client_id


@dataclass(frozen=True)
class Grant:
    """What one token response issues: a refresh token (secret) and an access token's ``jti``."""

    family_id: str
    refresh_token: str
    jti: str
    access_expires_at: int
    refresh_expires_at: int


#: How many clients one sweep looks at, at most (each registration runs one).
SWEEP_BATCH = 500

#: (jti, accepted until) of access tokens a revocation must also stop.
LiveJtis = list[tuple[str, float]]


class Refresh(enum.Enum):
    """What presenting a refresh token came to (:meth:`OAuthStore.refresh`)."""

    ROTATED = "rotated"  #: it was live: spent, and its successor issued
    GRACE = "grace"  #: spent moments ago: a sibling issued in the same family, nothing revoked
    REPLAYED = "replayed"  #: spent before the grace window: the family was revoked
    EXHAUSTED = "exhausted"  #: spent moments ago, but its grace answers are used up: refused, nothing revoked
    REFUSED = "refused"  #: expired, or its family is revoked: refused


@dataclass(frozen=True)
class RefreshOutcome:
    """The outcome of one refresh: a grant when tokens were issued, the live jtis of a revoked family."""

    kind: Refresh
    grant: Optional[Grant] = None
    #: Seconds since the token was rotated out (None if it had not been).
    since_rotation: Optional[int] = None
    #: Grace answers this token has had, this one included.
    grace_answers: int = 0
    jtis: LiveJtis = field(default_factory=list)


class OAuthStore:
    """Clients, codes and refresh-token families in the metadata database."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time, *, leeway: float) -> None:
        self.engine = engine
        self._clock = clock
        #: Seconds an access token is still accepted after its ``exp`` (``MCP_JWT_LEEWAY``):
        #: its record is kept, and handed to a revocation, that much longer.
        self.leeway = leeway

    def now(self) -> int:
        return int(self._clock())

    def accepted_until(self, expires_at: float) -> float:
        """When an access token with this ``exp`` stops being accepted (the leeway after it)."""
        return expires_at + self.leeway

    # --- schema -------------------------------------------------------------

    def tables_exist(self) -> bool:
        inspector = sa.inspect(self.engine)
        return all(inspector.has_table(table.name) for table in TABLES)

    @contextmanager
    def _tx(self, passthrough: tuple[type[Exception], ...] = ()) -> Iterator[DBConnection]:
        """One transaction; a database failure becomes :class:`StoreUnavailable` (never a 500)."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except passthrough:
            raise
        except sa.exc.DBAPIError as exc:
            try:
                missing = not self.tables_exist()
            except sa.exc.SQLAlchemyError:
                missing = False
            if missing:
                raise TablesMissing() from None
            raise StoreUnavailable(exc.__class__.__name__) from None

    # --- clients (models.ClientStore) ---------------------------------------

    def get_client(self, client_id: str) -> Optional[Client]:
        with self._tx() as c:
            row = c.execute(
                sa.select(clients_table).where(clients_table.c.client_key == client_key(client_id))
            ).first()
        if row is None or row.client_id != client_id:
            return None
        return _client(row)

    def client_by_registration_token(self, token: str) -> Optional[Client]:
        """The ``dcr`` client whose RFC 7592 registration access token this is (looked up by hash)."""
        with self._tx() as c:
            row = c.execute(
                sa.select(clients_table).where(clients_table.c.registration_token_hash == secret_hash(token))
            ).first()
        return _client(row) if row is not None and row.kind == "dcr" else None

    def save_client(self, client: Client) -> None:
        """Insert ``client``, or replace the stored one with its ``client_id``.

        The sweep looks at a new ``dcr`` client at once (and sets when to look
        again); at a ``cimd`` one when its cache time has passed.
        """
        values = dict(
            client_id=client.client_id,
            client_name=client.client_name[:255],
            redirect_uris=json.dumps(list(client.redirect_uris)),
            kind=client.kind,
            created_at=int(client.created_at.timestamp()),
            expires_at=int(client.expires_at.timestamp()) if client.expires_at else None,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            client_secret_hash=client.client_secret_hash,
            registration_token_hash=client.registration_token_hash,
        )
        values["sweep_at"] = values["expires_at"] or values["created_at"]
        key = client_key(client.client_id)
        update = sa.update(clients_table).where(clients_table.c.client_key == key).values(**values)
        for attempt in range(2):
            try:
                with self._tx(passthrough=(sa.exc.IntegrityError,)) as c:
                    if not c.execute(update).rowcount:
                        c.execute(sa.insert(clients_table).values(client_key=key, **values))
                return
            except sa.exc.IntegrityError:
                # Another replica inserted the same client meanwhile: the second try updates its row.
                if attempt:
                    raise StoreUnavailable("IntegrityError") from None

    def count_clients(self, kind: ClientKind) -> int:
        with self._tx() as c:
            return c.execute(
                sa.select(sa.func.count()).select_from(clients_table).where(clients_table.c.kind == kind)
            ).scalar_one()

    def list_clients(self) -> list[ClientInfo]:
        now = self.now()
        live = self._live_families_query(now).subquery()
        counts = (
            sa.select(live.c.client_key, sa.func.count().label("n")).group_by(live.c.client_key).subquery()
        )
        query = (
            sa.select(clients_table, sa.func.coalesce(counts.c.n, 0).label("connections"))
            .select_from(clients_table.outerjoin(counts, counts.c.client_key == clients_table.c.client_key))
            .order_by(clients_table.c.created_at)
        )
        with self._tx() as c:
            rows = c.execute(query).all()
        return [
            ClientInfo(
                client_id=row.client_id,
                client_name=row.client_name,
                kind=row.kind,
                redirect_uris=tuple(json.loads(row.redirect_uris)),
                created_at=_datetime(row.created_at),
                connections=int(row.connections),
                token_endpoint_auth_method=row.token_endpoint_auth_method,
            )
            for row in rows
        ]

    def delete_client(self, client_id: str) -> tuple[int, LiveJtis]:
        """Delete the client, spend its unused codes, revoke its families: (families revoked, live jtis)."""
        key = client_key(client_id)
        now = self.now()
        with self._tx() as c:
            # The client's row first, as the sweep locks it first: the two never wait on each other in turn.
            c.execute(sa.select(clients_table.c.client_key).where(clients_table.c.client_key == key).with_for_update())
            c.execute(
                sa.update(codes_table)
                .where(codes_table.c.client_key == key, codes_table.c.used_at.is_(None))
                .values(used_at=now)
            )
            ids = self._lock_live_families(c, families_table.c.client_key == key)
            jtis = self._revoke_locked(c, ids, now)
            c.execute(sa.delete(clients_table).where(clients_table.c.client_key == key))
        return len(ids), jtis

    def sweep_clients(self, unused_after: int, idle_after: int, limit: int = SWEEP_BATCH) -> int:
        """Remove the clients whose time has come; how many were removed.

        A ``dcr`` client that never redeemed a code goes ``unused_after``
        seconds after it registered; one whose connections have all ended
        (revoked, or their refresh tokens expired) goes ``idle_after`` seconds
        after the last one ended; a ``cimd`` client, a cached document, goes
        once its cache time has passed and it has no live connection (it is
        fetched again on its next use). A client with a live connection is
        never removed. At most ``limit`` clients due for a look (``sweep_at``,
        indexed) are looked at, oldest first; each one kept is next looked at
        when it could first go. Replicas sweeping at once skip each other's
        rows (PostgreSQL's ``SKIP LOCKED``).
        """
        now = self.now()
        clients = clients_table.c
        with self._tx() as c:
            due = c.execute(
                sa.select(clients.client_key, clients.kind, clients.created_at, clients.expires_at)
                .where(clients.sweep_at <= now)
                .order_by(clients.sweep_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not due:
                return 0
            keys = [row.client_key for row in due]
            ended, live = self._connection_ends(c, keys, now)
            unused: list[str] = []
            idle: list[str] = []
            later: dict[str, int] = {}
            for row in due:
                key = row.client_key
                if key in live:
                    later[key] = now + idle_after
                elif row.kind == "cimd":
                    if (row.expires_at or 0) <= now:
                        idle.append(key)
                    else:
                        later[key] = row.expires_at
                elif key not in ended:
                    if row.created_at + unused_after <= now:
                        unused.append(key)
                    else:
                        later[key] = row.created_at + unused_after
                elif ended[key] + idle_after <= now:
                    idle.append(key)
                else:
                    later[key] = ended[key] + idle_after
            removed = 0
            if unused or idle:
                # Spent first: a code being redeemed right now either wins (its family is then
                # seen below and the client stays) or loses (no family for a removed client).
                c.execute(
                    sa.update(codes_table)
                    .where(codes_table.c.client_key.in_(unused + idle), codes_table.c.used_at.is_(None))
                    .values(used_at=now)
                )
                still_due = clients.sweep_at <= now
                family = sa.select(families_table.c.id).where(families_table.c.client_key == clients.client_key)
                live_family = self._live_families_query(now).where(
                    families_table.c.client_key == clients.client_key
                )
                if unused:
                    removed += c.execute(
                        sa.delete(clients_table).where(clients.client_key.in_(unused), still_due, ~family.exists())
                    ).rowcount
                if idle:
                    removed += c.execute(
                        sa.delete(clients_table).where(clients.client_key.in_(idle), still_due, ~live_family.exists())
                    ).rowcount
            if later:
                c.execute(
                    sa.update(clients_table)
                    .where(clients.client_key.in_(list(later)), clients.sweep_at <= now)
                    .values(sweep_at=sa.case(later, value=clients.client_key))
                )
        return removed

    def _connection_ends(self, c: DBConnection, keys: Sequence[str], now: int) -> tuple[dict[str, int], set[str]]:
        """For these clients: when each one's last connection ended (or ends), and which have a live one."""
        families = families_table.c
        token_end = (
            sa.select(sa.func.max(refresh_tokens_table.c.expires_at))
            .where(refresh_tokens_table.c.family_id == families.id)
            .scalar_subquery()
        )
        ends = c.execute(
            sa.select(families.client_key, sa.func.max(sa.func.coalesce(families.revoked_at, token_end, families.created_at)))
            .where(families.client_key.in_(keys))
            .group_by(families.client_key)
        ).all()
        live = self._live_families_query(now).where(families.client_key.in_(keys)).with_only_columns(families.client_key)
        return {key: int(end) for key, end in ends}, set(c.execute(live.distinct()).scalars())

    # --- authorization codes ------------------------------------------------

    def save_code(
        self,
        code: str,
        client_id: str,
        username: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str,
        code_challenge_method: str,
        resource: str,
        ttl: int,
    ) -> None:
        now = self.now()
        with self._tx() as c:
            c.execute(
                sa.insert(codes_table).values(
                    code_hash=secret_hash(code), client_key=client_key(client_id), client_id=client_id,
                    username=username, redirect_uri=redirect_uri, scope=scope,
                    code_challenge=code_challenge, code_challenge_method=code_challenge_method,
                    resource=resource, created_at=now, expires_at=now + ttl,
                )
            )
            # Spent and expired codes are of no further use: keep the table small.
            c.execute(sa.delete(codes_table).where(codes_table.c.expires_at < now - 86400))

    def find_code(self, code: str) -> Optional[CodeRecord]:
        with self._tx() as c:
            row = c.execute(
                sa.select(codes_table).where(codes_table.c.code_hash == secret_hash(code))
            ).first()
        if row is None:
            return None
        return CodeRecord(
            code_hash=row.code_hash, client_id=row.client_id, username=row.username,
            redirect_uri=row.redirect_uri, scope=row.scope, code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method, resource=row.resource,
            expires_at=row.expires_at, used_at=row.used_at, family_id=row.family_id,
        )

    def redeem_code(
        self, code: CodeRecord, client_name: str, access_ttl: int, refresh_ttl: int
    ) -> Optional[Grant]:
        """Spend ``code`` and start its family, in one transaction; None if it was spent or expired."""
        now = self.now()
        grant = _new_grant(uuid.uuid4().hex, now, access_ttl, refresh_ttl)
        with self._tx() as c:
            won = c.execute(
                sa.update(codes_table)
                .where(
                    codes_table.c.code_hash == code.code_hash,
                    codes_table.c.used_at.is_(None),
                    codes_table.c.expires_at > now,
                )
                .values(used_at=now, family_id=grant.family_id)
            ).rowcount
            if won != 1:
                return None
            c.execute(
                sa.insert(families_table).values(
                    id=grant.family_id, client_key=client_key(code.client_id), client_id=code.client_id,
                    client_name=client_name[:255], username=code.username, scope=code.scope,
                    created_at=now, last_used_at=now,
                )
            )
            self._insert_tokens(c, grant, now)
        return grant

    def family_of_code(self, code_hash: str) -> Optional[str]:
        """The family a (spent) code started, if any."""
        with self._tx() as c:
            return c.execute(
                sa.select(codes_table.c.family_id).where(codes_table.c.code_hash == code_hash)
            ).scalar()

    # --- refresh tokens -----------------------------------------------------

    def find_refresh_token(self, token: str) -> Optional[RefreshRecord]:
        query = (
            sa.select(refresh_tokens_table, families_table)
            .select_from(
                refresh_tokens_table.join(families_table, families_table.c.id == refresh_tokens_table.c.family_id)
            )
            .where(refresh_tokens_table.c.token_hash == secret_hash(token))
        )
        with self._tx() as c:
            row = c.execute(query).first()
        if row is None:
            return None
        return RefreshRecord(
            token_hash=row.token_hash, family_id=row.family_id, client_id=row.client_id,
            username=row.username, scope=row.scope, expires_at=row.expires_at, used_at=row.used_at,
            family_revoked=row.revoked_at is not None,
        )

    def refresh(
        self,
        token: RefreshRecord,
        access_ttl: int,
        refresh_ttl: int,
        grace_seconds: int = 0,
        grace_reuses: int = 0,
    ) -> RefreshOutcome:
        """Present ``token``: rotate it, answer it within its grace window, or end its family.

        One transaction under the family's row lock: of concurrent presentations
        one wins the rotation (a conditional ``UPDATE``); the others, and any
        presentation less than ``grace_seconds`` after that rotation, get a
        sibling in the same family, at most ``grace_reuses`` times (a counter,
        also a conditional ``UPDATE``). Later, the token is a replay and the
        family is revoked in the same transaction. A revoked family is never
        revived. ``grace_seconds=0`` is strict single use.
        """
        now = self.now()
        grant = _new_grant(token.family_id, now, access_ttl, refresh_ttl)
        this_token = refresh_tokens_table.c.token_hash == token.token_hash
        with self._tx() as c:
            family = c.execute(
                sa.select(families_table.c.revoked_at)
                .where(families_table.c.id == token.family_id)
                .with_for_update()
            ).first()
            if family is None or family.revoked_at is not None:
                return RefreshOutcome(Refresh.REFUSED)
            live_family = sa.select(families_table.c.id).where(
                families_table.c.id == token.family_id, families_table.c.revoked_at.is_(None)
            )
            unexpired_in_live_family = sa.and_(
                this_token,
                refresh_tokens_table.c.expires_at > now,
                refresh_tokens_table.c.family_id.in_(live_family),
            )
            won = c.execute(
                sa.update(refresh_tokens_table)
                .where(unexpired_in_live_family, refresh_tokens_table.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if won == 1:
                self._issue(c, grant, now)
                return RefreshOutcome(Refresh.ROTATED, grant)
            row = c.execute(
                sa.select(
                    refresh_tokens_table.c.used_at,
                    refresh_tokens_table.c.expires_at,
                    refresh_tokens_table.c.grace_answers,
                ).where(this_token)
            ).first()
            if row is None or row.used_at is None:
                return RefreshOutcome(Refresh.REFUSED)  # expired, or its family went meanwhile
            since = now - row.used_at
            if since >= grace_seconds:
                ids = self._lock_live_families(c, families_table.c.id == token.family_id)
                jtis = self._revoke_locked(c, ids, now)
                return RefreshOutcome(Refresh.REPLAYED, since_rotation=since, jtis=jtis)
            if row.expires_at <= now:
                return RefreshOutcome(Refresh.REFUSED, since_rotation=since)
            answered = c.execute(
                sa.update(refresh_tokens_table)
                .where(
                    unexpired_in_live_family,
                    refresh_tokens_table.c.used_at > now - grace_seconds,
                    refresh_tokens_table.c.grace_answers < grace_reuses,
                )
                .values(grace_answers=refresh_tokens_table.c.grace_answers + 1)
            ).rowcount
            if answered != 1:
                return RefreshOutcome(Refresh.EXHAUSTED, since_rotation=since, grace_answers=row.grace_answers)
            self._issue(c, grant, now)
            return RefreshOutcome(
                Refresh.GRACE, grant, since_rotation=since, grace_answers=row.grace_answers + 1
            )

    def _issue(self, c: DBConnection, grant: Grant, now: int) -> None:
        c.execute(
            sa.update(families_table).where(families_table.c.id == grant.family_id).values(last_used_at=now)
        )
        self._insert_tokens(c, grant, now)

    # --- families -----------------------------------------------------------

    def revoke_family(self, family_id: str) -> tuple[int, LiveJtis]:
        """Revoke one family: (1 if it was live else 0, the unexpired access-token jtis it issued)."""
        now = self.now()
        with self._tx() as c:
            ids = self._lock_live_families(c, families_table.c.id == family_id)
            return len(ids), self._revoke_locked(c, ids, now)

    def revoke_user_families(self, username: str, family_id: Optional[str] = None) -> tuple[int, LiveJtis]:
        """Revoke the user's families (or just ``family_id`` if it is theirs); spend their unused codes."""
        now = self.now()
        where = [families_table.c.username == username]
        if family_id is not None:
            where.append(families_table.c.id == family_id)
        with self._tx() as c:
            if family_id is None:
                # First, so that a redemption in flight commits its family before we look.
                c.execute(
                    sa.update(codes_table)
                    .where(codes_table.c.username == username, codes_table.c.used_at.is_(None))
                    .values(used_at=now)
                )
            ids = self._lock_live_families(c, sa.and_(*where))
            return len(ids), self._revoke_locked(c, ids, now)

    def live_families(self, username: Optional[str] = None) -> list[Connection]:
        """The families with a usable refresh token, newest first (``username`` None: everyone's)."""
        query = self._live_families_query(self.now())
        if username is not None:
            query = query.where(families_table.c.username == username)
        with self._tx() as c:
            rows = c.execute(query.order_by(families_table.c.created_at.desc())).all()
        return [
            Connection(
                id=row.id, client_id=row.client_id, client_name=row.client_name, username=row.username,
                scopes=tuple(row.scope.split()), created_at=_datetime(row.created_at),
                last_used_at=_datetime(row.last_used_at) if row.last_used_at is not None else None,
            )
            for row in rows
        ]

    def _live_families_query(self, now: int) -> sa.sql.Select:
        usable = sa.select(refresh_tokens_table.c.token_hash).where(
            refresh_tokens_table.c.family_id == families_table.c.id,
            refresh_tokens_table.c.used_at.is_(None),
            refresh_tokens_table.c.expires_at > now,
        )
        return sa.select(families_table).where(families_table.c.revoked_at.is_(None), usable.exists())

    def _lock_live_families(self, c: DBConnection, where: Any) -> list[str]:
        return list(
            c.execute(
                sa.select(families_table.c.id)
                .where(where, families_table.c.revoked_at.is_(None))
                .with_for_update()
            ).scalars()
        )

    def _revoke_locked(self, c: DBConnection, ids: Sequence[str], now: int) -> LiveJtis:
        if not ids:
            return []
        c.execute(sa.update(families_table).where(families_table.c.id.in_(ids)).values(revoked_at=now))
        rows = c.execute(
            sa.select(access_tokens_table.c.jti, access_tokens_table.c.expires_at).where(
                access_tokens_table.c.family_id.in_(ids),
                access_tokens_table.c.expires_at > now - self.leeway,  # still accepted
            )
        ).all()
        return [(row.jti, self.accepted_until(row.expires_at)) for row in rows]

    def _insert_tokens(self, c: DBConnection, grant: Grant, now: int) -> None:
        c.execute(
            sa.insert(refresh_tokens_table).values(
                token_hash=secret_hash(grant.refresh_token), family_id=grant.family_id,
                created_at=now, expires_at=grant.refresh_expires_at,
            )
        )
        c.execute(
            sa.insert(access_tokens_table).values(
                jti=grant.jti, family_id=grant.family_id, expires_at=grant.access_expires_at
            )
        )
        # Records of access tokens no longer accepted (leeway included) are of no use to a revocation.
        c.execute(sa.delete(access_tokens_table).where(access_tokens_table.c.expires_at <= now - self.leeway))


def _new_grant(family_id: str, now: int, access_ttl: int, refresh_ttl: int) -> Grant:
    return Grant(
        family_id=family_id,
        refresh_token=secrets.token_urlsafe(32),
        jti=uuid.uuid4().hex,
        access_expires_at=now + access_ttl,
        refresh_expires_at=now + refresh_ttl,
    )


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        client_name=row.client_name,
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        kind=row.kind,
        created_at=_datetime(row.created_at),
        expires_at=_datetime(row.expires_at) if row.expires_at is not None else None,
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        client_secret_hash=row.client_secret_hash,
        registration_token_hash=row.registration_token_hash,
    )


def _datetime(epoch: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
