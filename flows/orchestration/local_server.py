"""One local Prefect server per ``PREFECT_HOME``, shared by the hetflow runs of a machine.

Without ``PREFECT_API_URL`` every Prefect flow starts a temporary server of its own on the SQLite database of
``PREFECT_HOME``. Five ``hetflow run`` started together each started one, and all five failed ("Timed out
while attempting to connect to ephemeral Prefect API server": the start-ups compete for the database and the
CPUs for longer than Prefect's 20 s). :func:`shared_server` starts one server for all of them instead:

* under an exclusive lock on ``$PREFECT_HOME/hetflow-server.lock`` it reuses the server named in
  ``hetflow-server.json`` when that answers ``/api/health``, else starts one — this module as a program, in
  its own session, Prefect's API (no UI, the temporary server's settings) on a free port of 127.0.0.1 — and
  waits up to ``HETFLOW_PREFECT_START_TIMEOUT`` seconds (default 120) for it to answer;
* while the run lasts it holds a shared lock on ``hetflow-server.users`` (the kernel drops it when the
  process ends, however it ends, SIGKILL included) and points Prefect at the server (``PREFECT_API_URL``);
* the server stops itself once no process has held that lock for ``HETFLOW_PREFECT_IDLE`` seconds
  (default 10): never left behind, and still warm for back-to-back runs. Its log is
  ``hetflow-server.log``.

With ``PREFECT_API_URL`` set (a server of your own, or Prefect's test harness) it does nothing. Flow runs go
to the same database as with the temporary servers, and Prefect's analytics are off in the server unless
``PREFECT_SERVER_ANALYTICS_ENABLED`` says otherwise.

Example::

    with shared_server() as url:   # url: the API URL, or None when PREFECT_API_URL was set already
        run_plan(graph, ...)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every flow starts Prefect's own temporary server
    fcntl = None  # type: ignore[assignment]

__all__ = ["shared_server", "LocalServerError", "STATE", "START_TIMEOUT", "IDLE"]

STATE, LOCK, USERS, LOG = "hetflow-server.json", "hetflow-server.lock", "hetflow-server.users", "hetflow-server.log"
START_TIMEOUT = "HETFLOW_PREFECT_START_TIMEOUT"  # seconds to wait for a new server (default 120)
IDLE = "HETFLOW_PREFECT_IDLE"  # seconds without users before the server stops (default 10)


class LocalServerError(RuntimeError):
    """The shared local Prefect server did not start."""


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    try:
        value = float(text) if text else default
    except ValueError:
        raise LocalServerError(f"{name}={text!r} is not a number of seconds") from None
    if not value >= 0:
        raise LocalServerError(f"{name}={text!r} must be >= 0")
    return value


@contextlib.contextmanager
def _flock(path: Path, mode: int, timeout: float | None = None) -> Iterator[IO[str]]:
    """Hold ``flock(mode)`` on ``path`` (blocking; with ``timeout``: polling, then :class:`LocalServerError`)."""
    f = open(path, "a+")  # noqa: SIM115 - closed below, which releases the lock
    try:
        if timeout is None:
            fcntl.flock(f, mode)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(f, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LocalServerError(f"waited {timeout:g} s for the lock {path}") from None
                    time.sleep(0.05)
        yield f
    finally:
        f.close()


def _has_users(home: Path) -> bool:
    """Whether some process holds the users lock (a run is using the server)."""
    with open(home / USERS, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((home / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and {"pid", "url"} <= set(state) else None


def _healthy(url: str, timeout: float = 5.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process under a recycled pid
        return False
    return True


def _server_environment(home: Path) -> dict[str, str]:
    from prefect.settings import get_current_settings

    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.update(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1",
               PREFECT__SERVER_FINAL="1")  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    return env


def _start(home: Path, timeout: float, idle: float) -> str:
    """Start the server program (the caller holds the start lock); return its API URL once it is healthy."""
    with open(home / LOG, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(home), repr(idle)],
            env=_server_environment(home),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # not in the run's process group: a Ctrl-C of one run does not stop it
        )  # fmt: skip
    threading.Thread(target=proc.wait, name="hetflow-server-reaper", daemon=True).start()  # no zombie later
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None or proc.poll() is not None:
            raise LocalServerError(f"the local Prefect server exited with code {proc.returncode}; see {home / LOG}")
        state = _read_state(home)
        if state is not None and state["pid"] == proc.pid and _healthy(state["url"]):
            return str(state["url"])
        time.sleep(0.2)
    proc.terminate()
    raise LocalServerError(f"the local Prefect server did not answer within {timeout:g} s ({START_TIMEOUT}); "
                           f"see {home / LOG}")  # fmt: skip


@contextlib.contextmanager
def shared_server() -> Iterator[str | None]:
    """Run the body against the machine's shared local Prefect server (module docstring); yield its API URL,
    or None when ``PREFECT_API_URL`` is set (then nothing changes)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_UI_URL, temporary_settings

    if PREFECT_API_URL.value() or fcntl is None:
        yield None
        return
    timeout, idle = _seconds(START_TIMEOUT, 120.0), _seconds(IDLE, 10.0)
    home = Path(PREFECT_HOME.value()).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    with _flock(home / LOCK, fcntl.LOCK_EX, timeout=timeout + 60):
        state = _read_state(home)
        if state is not None and _alive(int(state["pid"])) and _healthy(state["url"]):
            url = str(state["url"])
        else:
            url = _start(home, timeout, idle)
        users = open(home / USERS, "a+")  # noqa: SIM115 - held (and the shared lock with it) until the run ends
        fcntl.flock(users, fcntl.LOCK_SH)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: ""}):  # no UI: no "View at" link
            try:
                yield url
            finally:
                _drain()  # Prefect sends logs and events in the background: deliver them while the server is ours
    finally:
        users.close()


def _drain(timeout: float = 30.0) -> None:
    """Deliver what Prefect's background services still hold (else they retry at exit, server gone)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            service.drain_all(timeout=timeout)


# -- the server program ----------------------------------------------------------------------------------
def _watch(server: Any, home: Path, idle: float) -> None:
    """Stop ``server`` once nobody used it for ``idle`` seconds, or when another server took its place."""
    quiet_since: float | None = None
    while not server.should_exit:
        time.sleep(0.25)
        state = _read_state(home)
        if state is None or state["pid"] != os.getpid():
            server.should_exit = True  # replaced (or its state file removed): stand down
            return
        if _has_users(home):
            quiet_since = None
            continue
        quiet_since = quiet_since if quiet_since is not None else time.monotonic()
        if time.monotonic() - quiet_since < idle:
            continue
        with _flock(home / LOCK, fcntl.LOCK_EX):  # no run is between finding this server and using it
            if _has_users(home):
                quiet_since = None
                continue
            with contextlib.suppress(OSError):
                (home / STATE).unlink()
            server.should_exit = True
            return


def serve(home: Path, idle: float) -> None:
    """The server program: Prefect's API on a free loopback port until :func:`_watch` stops it."""
    import uvicorn
    from prefect.server.api.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(ephemeral=True, final=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    tmp = home / f"{STATE}.{os.getpid()}"
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": f"http://127.0.0.1:{port}/api"}))
    os.replace(tmp, home / STATE)
    threading.Thread(target=_watch, args=(server, home, idle), name="hetflow-server-idle", daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(sys.argv[2]))
