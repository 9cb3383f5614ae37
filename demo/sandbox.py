"""A throw-away Superset 6.1.0 home for the demo and the integration tests.

SQLite metadata, real ``superset`` commands, real ``superset mcp run``
processes on loopback. Needs to run inside a venv that has Superset and
superset-mcp-jwt installed (``sys.executable``'s venv).
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import jwt

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
    """A directory holding a SQLite metadata DB and superset_config files."""

    root: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def database(self) -> Path:
        return self.root / "superset.db"

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
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{self.database}'",
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
        config = config or self.config("bootstrap_config")
        return subprocess.run(
            [superset_bin(), *args], env=self.env(config), capture_output=True,
            text=True, check=check, timeout=timeout, stdin=subprocess.DEVNULL,
        )

    def bootstrap(self, log: Any = print) -> None:
        """Create the metadata DB, roles and the sandbox users (skips if done)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.database.exists() and self._usernames() >= set(USERS):
            return
        log("superset db upgrade (about 10 s)")
        self.superset("db", "upgrade")
        log("superset init (about 10 s)")
        self.superset("init")
        log("creating users " + ", ".join(USERS))
        for username, (role, _active) in USERS.items():
            command = "create-admin" if role == "Admin" else "create-user"
            args = ["fab", command, "--username", username, "--firstname", username,
                    "--lastname", "Sandbox", "--email", f"{username}@example.com",
                    "--password", PASSWORD]
            if command == "create-user":
                args += ["--role", role]
            self.superset(*args)
        with sqlite3.connect(self.database) as db:
            for username, (_role, active) in USERS.items():
                db.execute("UPDATE ab_user SET active = ? WHERE username = ?", (active, username))
        log("adding the 'sandbox' SQLite database connection")
        sqlite3.connect(self.root / "data.db").close()
        self.superset("set-database-uri", "-d", "sandbox", "-u", f"sqlite:///{self.root / 'data.db'}")

    def ensure_user(self, username: str, role: str = "Gamma") -> None:
        """Create an active user if there is none by that name."""
        if username not in self._usernames():
            self.superset("fab", "create-user", "--role", role, "--username", username,
                          "--firstname", username, "--lastname", "Sandbox",
                          "--email", f"{username}@example.com", "--password", PASSWORD)

    def _usernames(self) -> set[str]:
        try:
            with sqlite3.connect(self.database) as db:
                return {row[0] for row in db.execute("SELECT username FROM ab_user")}
        except sqlite3.Error:
            return set()


class SupersetProcess:
    """A Superset command serving on a free loopback port, logging to a file."""

    def __init__(self, home: SupersetHome, config: Path, log_name: str, args: list[str],
                 port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self.log_path = home.root / f"{log_name}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [superset_bin(), *args, "--host", "127.0.0.1", "--port", str(self.port)],
            env=home.env(config), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

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
        return self.wait_ready()

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
