"""`make run`'s launcher keeps the platform up: a service killed with SIGKILL is started again
(its health endpoint answers again, from a new process) while every other process runs on
untouched (the same PIDs). The launcher runs as `make run` runs it, with its own data folder and
NATS, against the test session's PostgreSQL, without demo data."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tongban.shared.localinfra import free_port

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["gateway", "catalog", "cases", "credentials", "queue", "interop"]


def free_block(size: int = 8) -> int:
    """A base port with `size` free ports above it (the launcher's gateway, services and WeChat simulator)."""
    for _ in range(200):
        base = free_port()
        if base + size >= 65535:
            continue
        try:
            for port in range(base + 1, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def poll(predicate, timeout: float, what: str):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s")


def services(launcher: subprocess.Popen) -> dict[str, int]:
    """The launcher's service processes by name (uvicorn, one process each)."""
    found = {}
    for child in psutil.Process(launcher.pid).children():
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(child.cmdline())
            for name in NAMES:
                if f"tongban.{name}.main:create_app" in cmd:
                    found[name] = child.pid
    return found


@pytest.fixture
def launched(infra, tmp_path):
    base = free_block()
    log_path = tmp_path / "launcher.log"
    env = {**os.environ, "DATABASE_URL": infra.pg.url, "TONGBAN_DATA": str(tmp_path / "data"),
           "TONGBAN_PORT_BASE": str(base), "TONGBAN_NATS_PORT": str(free_port())}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "local" / "run.py"), "--no-demo"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        poll(lambda: proc.poll() is not None or "up in" in log_path.read_text(errors="replace"), 240, "the platform up")
        assert proc.poll() is None, log_path.read_text(errors="replace")[-4000:]
        yield proc, base, log_path
    except BaseException:
        print(log_path.read_text(errors="replace")[-6000:])
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_killed_service_comes_back_and_the_others_never_stop(launched):
    launcher, base, log_path = launched
    before = services(launcher)
    assert sorted(before) == sorted(NAMES)
    queue_url = f"http://127.0.0.1:{base + NAMES.index('queue')}"
    assert httpx.get(queue_url + "/healthz", timeout=5).status_code == 200

    os.kill(before["queue"], signal.SIGKILL)

    def back() -> bool:
        pid = services(launcher).get("queue")
        if pid is None or pid == before["queue"]:
            return False
        try:
            return httpx.get(queue_url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    poll(back, 120, "svc-queue back")
    after = services(launcher)
    assert {n: p for n, p in after.items() if n != "queue"} == {n: p for n, p in before.items() if n != "queue"}
    assert launcher.poll() is None
    assert "queue exited with code -9; starting it again" in log_path.read_text(errors="replace")
    with httpx.Client(timeout=5) as http:  # the rest answered throughout and answers now
        for name in NAMES:
            assert http.get(f"http://127.0.0.1:{base + NAMES.index(name)}/healthz").status_code == 200
