"""A throw-away Superset 6.1.0 home for the demo and the integration tests.

SQLite (default) or PostgreSQL metadata, real ``superset`` commands, real
``superset mcp run`` processes and the web app (``superset run`` or gunicorn
with several workers) on loopback. Needs to run inside a venv that has
Superset and superset-mcp-jwt installed (``sys.executable``'s venv).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import jwt
import sqlalchemy
from sqlalchemy.pool import NullPool

ISSUER = "superset-mcp"
AUDIENCE = "superset-mcp-clients"
PASSWORD = "sandbox-password-123"
#: username -> (role, active)
USERS = {"admin": ("Admin", True), "alice": ("Gamma", True), "carol": ("Gamma", False)}


#: A raw MCP ``initialize`` request, for checks below the MCP client (status, headers).
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "superset-mcp-jwt-sandbox", "version": "0"},
    },
}
#: Streamable HTTP requires clients to accept both.
MCP_ACCEPT = "application/json, text/event-stream"


def superset_bin() -> str:
    return str(Path(sys.executable).with_name("superset"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mint(secret: str, sub: Any, ttl: float = 3600, **claims: Any) -> str:
    """A token shaped like the one in Superset's documentation (no iat)."""
    payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time() + ttl)}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


@dataclass
class SupersetHome:
    """A directory holding superset_config files and, by default, a SQLite metadata DB.

    ``database_uri`` puts the metadata in another database (e.g. a
    :class:`PostgresCluster`'s) instead of ``root/superset.db``.
    """

    root: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    database_uri: Optional[str] = None

    @property
    def database(self) -> Path:
        """The SQLite file (unused when ``database_uri`` is set)."""
        return self.root / "superset.db"

    @property
    def uri(self) -> str:
        """Superset's SQLALCHEMY_DATABASE_URI for this home."""
        return self.database_uri or f"sqlite:///{self.database}"

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run one SQL statement on the metadata DB (committed); its rows, if any."""
        engine = sqlalchemy.create_engine(self.uri, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                result = connection.execute(sqlalchemy.text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def config(self, name: str = "superset_config", extra: str = "", enable: bool = True,
               **keys: Any) -> Path:
        """Write a config module with the documented HS256 keys, overridden by ``keys``.

        A key set to ``...`` is left out of the file; ``extra`` is appended as is;
        ``enable=False`` leaves out the extension (plain Superset, for comparison).
        """
        values: dict[str, Any] = {
            "MCP_AUTH_ENABLED": True,
            "MCP_DEV_USERNAME": None,
            "MCP_JWT_ALGORITHM": "HS256",
            "MCP_JWT_SECRET": self.secret,
            "MCP_JWT_ISSUER": ISSUER,
            "MCP_JWT_AUDIENCE": AUDIENCE,
        }
        values.update(keys)
        lines = [
            f"SECRET_KEY = {secrets.token_urlsafe(32)!r}",
            f"SQLALCHEMY_DATABASE_URI = {self.uri!r}",
        ]
        if enable:
            lines += ["import superset_mcp_jwt", "FLASK_APP_MUTATOR = superset_mcp_jwt.init_app"]
        lines += [f"{k} = {v!r}" for k, v in values.items() if v is not ...]
        path = self.root / f"{name}.py"
        path.write_text("\n".join(lines) + "\n" + extra)
        return path

    def env(self, config: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SUPERSET_CONFIG_PATH=str(config),
            SUPERSET_HOME=str(self.root),
            PYTHONUNBUFFERED="1",
        )
        env.pop("SUPERSET_CONFIG", None)
        return env

    def superset(self, *args: str, config: Optional[Path] = None, check: bool = True,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self._run([superset_bin(), *args], config, check, timeout)

    def superset_commands(self, *commands: list[str], config: Optional[Path] = None,
                          timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run several ``superset`` commands (argument lists) in one process, in order."""
        script = Path(__file__).with_name("superset_commands.py")
        return self._run([sys.executable, str(script), json.dumps(list(commands))], config, True, timeout)

    def _run(self, argv: list[str], config: Optional[Path], check: bool,
             timeout: float) -> subprocess.CompletedProcess[str]:
        """``argv`` with this home's environment (``config``: the bootstrap config by default)."""
        return subprocess.run(
            argv, env=self.env(config or self.config("bootstrap_config")), capture_output=True,
            text=True, check=check, timeout=timeout, stdin=subprocess.DEVNULL,
        )

    def bootstrap(self, log: Any = print, users: Optional[dict[str, tuple[str, bool]]] = None) -> None:
        """Create the metadata DB, roles and the sandbox users (skips if done).

        ``users`` (username -> (role, active)) defaults to :data:`USERS`. Superset's own
        commands (``db upgrade``, ``init``, ``fab create-user``, ``set-database-uri``),
        run in one process.
        """
        users = users or USERS
        self.root.mkdir(parents=True, exist_ok=True)
        if self._usernames() >= set(users):
            return
        commands = [["db", "upgrade"], ["init"]]
        for username, (role, _active) in users.items():
            command = "create-admin" if role == "Admin" else "create-user"
            args = ["fab", command, "--username", username, "--firstname", username,
                    "--lastname", "Sandbox", "--email", f"{username}@example.com",
                    "--password", PASSWORD]
            if command == "create-user":
                args += ["--role", role]
            commands.append(args)
        sqlite3.connect(self.root / "data.db").close()
        commands.append(["set-database-uri", "-d", "sandbox", "-u", f"sqlite:///{self.root / 'data.db'}"])
        log("superset db upgrade, superset init, users " + ", ".join(users)
            + " and the 'sandbox' SQLite database connection (about a minute)")
        self.superset_commands(*commands)
        for username, (_role, active) in users.items():
            self.sql("UPDATE ab_user SET active = :active WHERE username = :username",
                     active=active, username=username)

    def ensure_user(self, username: str, role: str = "Gamma") -> None:
        """Create an active user if there is none by that name."""
        if username not in self._usernames():
            self.superset("fab", "create-user", "--role", role, "--username", username,
                          "--firstname", username, "--lastname", "Sandbox",
                          "--email", f"{username}@example.com", "--password", PASSWORD)

    def _usernames(self) -> set[str]:
        if self.database_uri is None and not self.database.exists():
            return set()
        try:
            return {row[0] for row in self.sql("SELECT username FROM ab_user")}
        except sqlalchemy.exc.SQLAlchemyError:  # not created yet
            return set()


def postgres_bin_dir() -> Path:
    """The directory of Debian's PostgreSQL server binaries (newest version installed)."""
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()]
    if versions:
        return max(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: install Debian's postgresql (make services)")


class PostgresCluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1 for tests: initdb, start, create databases, stop.

    Trust authentication (loopback only) and fsync off: never for real data.
    PostgreSQL refuses to run as root, so under root the server runs as the
    ``postgres`` system user that Debian's package creates.
    """

    def __init__(self, port: Optional[int] = None) -> None:
        self.bin = postgres_bin_dir()
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="superset-mcp-jwt-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self._as_user, str(self.bin / program), *args], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> "PostgresCluster":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60",
                  "-o", options, "start")
        return self

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URI (driver: psycopg2)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        engine = sqlalchemy.create_engine(f"{self.url}/postgres", isolation_level="AUTOCOMMIT",
                                          poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        finally:
            engine.dispose()
        return f"{self.url}/{name}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class SupersetProcess:
    """A Superset command serving on a free loopback port, logging to a file."""

    def __init__(self, home: SupersetHome, config: Path, log_name: str, args: list[str],
                 port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self.log_path = home.root / f"{log_name}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.command(args), env=home.env(config), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def command(self, args: list[str]) -> list[str]:
        """The command line: ``superset <args>`` on this loopback port."""
        return [superset_bin(), *args, "--host", "127.0.0.1", "--port", str(self.port)]

    def wait_ready(self, timeout: float = 120) -> "SupersetProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"superset exited ({self.process.returncode}):\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"superset did not listen within {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.stop()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> "SupersetProcess":
        try:
            return self.wait_ready()
        except BaseException:  # e.g. Ctrl-C while waiting: leave no server behind
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class MCPServer(SupersetProcess):
    """A running ``superset mcp run``; ``url`` is its MCP endpoint."""

    def __init__(self, home: SupersetHome, config: Path, log_name: str = "mcp",
                 port: Optional[int] = None) -> None:
        super().__init__(home, config, log_name, ["mcp", "run"], port)
        self.url = f"http://127.0.0.1:{self.port}/mcp"


class WebServer(SupersetProcess):
    """A running ``superset run`` (the web app); ``url`` is its root."""

    def __init__(self, home: SupersetHome, config: Path, log_name: str = "web",
                 port: Optional[int] = None) -> None:
        super().__init__(home, config, log_name, ["run", "--with-threads"], port)
        self.url = f"http://127.0.0.1:{self.port}"


class GunicornWebServer(SupersetProcess):
    """The web app as production runs it: gunicorn with ``workers`` processes (gthread).

    Each worker builds its own app (no ``--preload``), so nothing is shared
    between them but the metadata DB and the config. The access log names the
    worker that served each request: ``<pid> <X-Probe header> "<request line>" <status>``.
    """

    def __init__(self, home: SupersetHome, config: Path, log_name: str = "gunicorn",
                 port: Optional[int] = None, workers: int = 2, threads: int = 4) -> None:
        self.workers, self.threads = workers, threads
        super().__init__(home, config, log_name, [], port)
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, args: list[str]) -> list[str]:
        return [
            str(Path(sys.executable).with_name("gunicorn")), "-w", str(self.workers),
            "-k", "gthread", "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}",
            "--timeout", "120", "--no-control-socket", "--access-logfile", "-",
            "--access-logformat", '%(p)s %({x-probe}i)s "%(r)s" %(s)s',
            "superset.app:create_app()",
        ]

    def wait_ready(self, timeout: float = 180) -> "GunicornWebServer":
        """Wait until every worker has booted and the app answers ``/health``."""
        super().wait_ready(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log()}")
            if len(self.worker_pids()) >= self.workers:
                try:
                    if httpx.get(f"{self.url}/health", timeout=30).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn's workers were not ready within {timeout}s:\n{self.log()}")

    def worker_pids(self) -> set[int]:
        """The pids of the workers booted so far."""
        return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.log())}

    def served_by(self, probe: str, count: int, timeout: float = 10) -> list[int]:
        """The worker pids of the ``count`` requests sent with header ``X-Probe: probe``, in order.

        A worker logs a request just after answering it: waits up to ``timeout`` for the lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = [int(pid) for pid in re.findall(rf"^<(\d+)> {re.escape(probe)} ", self.log(), re.M)]
            if len(pids) >= count or time.monotonic() > deadline:
                return pids
            time.sleep(0.1)


async def call_tool(url: str, token: str, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """Call one MCP tool with the official MCP Python SDK client; (is_error, text).

    Superset reports most tool failures as text in a successful result, so
    callers look at the text as well as ``is_error``.
    """
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool(tool, arguments)
    text = "".join(getattr(part, "text", "") for part in result.content)
    return bool(result.isError), text


@contextmanager
def oauth_servers(home: SupersetHome, name: str, extra: str = "", **keys: Any) -> Iterator[dict[str, Any]]:
    """The web app (gunicorn) as the authorization server and ``superset mcp run`` as its resource.

    ``name`` names the config and the logs; ``keys`` are added to the config. Yields
    ``web``, ``mcp``, ``issuer``, ``resource``, ``config`` and ``home``.
    """
    web_port, mcp_port = free_port(), free_port()
    issuer, resource = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{mcp_port}/mcp"
    config = home.config(name, extra=extra, MCP_OAUTH_ENABLED=True, MCP_OAUTH_ISSUER=issuer,
                         MCP_OAUTH_RESOURCE=resource, **keys)
    home.superset("mcp-jwt", "db", "upgrade", config=config)
    with GunicornWebServer(home, config, f"web-{name}", port=web_port) as web, \
            MCPServer(home, config, f"mcp-{name}", port=mcp_port) as mcp:
        yield {"web": web, "mcp": mcp, "issuer": issuer, "resource": resource, "config": config, "home": home}
