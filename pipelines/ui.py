"""`make ui`: the MLflow UI over the project's tracking store, on 127.0.0.1.

`mlflow server` with one worker in its own process group (stopping the group stops its
workers too), artifacts served from the same folder the sweeps write them to. When the
tracking URI is already a server (http...), there is nothing to start: it says where.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipelines.tracking import store

DEFAULT_PORT = 5000
START_TIMEOUT_S = 90.0  # seconds on an idle machine; much more under load


class UiError(RuntimeError):
    """The server did not come up; the message holds the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def server_command(uri: str, host: str, port: int) -> list[str]:
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin), "server", "--backend-store-uri", uri]
    cmd += ["--host", host, "--port", str(port), "--workers", "1"]
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        # runs' own artifact locations are absolute; this is only for new experiments
        cmd += ["--artifacts-destination", str(db.parent / "mlartifacts")]
    return cmd


def start_ui(
    uri: str | None = None, host: str = "127.0.0.1", port: int | None = None, log=None
) -> tuple[subprocess.Popen, str]:
    """Start the server, wait until it answers; returns (process, address)."""
    uri = uri or store.tracking_uri()
    port = port or (DEFAULT_PORT if port_is_free(DEFAULT_PORT, host) else free_port(host))
    url = f"http://{host}:{port}"
    proc = start_server(server_command(uri, host, port), f"{url}/health", "mlflow server", log)
    return proc, url


def start_server(cmd: list[str], health_url: str, name: str, log=None) -> subprocess.Popen:
    """Start a web server in its own process group and wait until `health_url` answers 200.

    Shared by `make ui` and `make dashboard` (pipelines/dashboard.py)."""
    proc = subprocess.Popen(
        cmd,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(health_url, proc, name)
    except BaseException:
        stop_ui(proc)
        raise
    return proc


def wait_until_up(
    health_url: str, proc: subprocess.Popen, name: str, timeout_s: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UiError(f"{name} exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise UiError(f"{name} at {health_url} did not answer within {timeout_s:.0f} s")


def stop_ui(proc: subprocess.Popen) -> None:
    """Stop the server's process group (gunicorn/uvicorn workers included)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def serve(host: str = "127.0.0.1", port: int | None = None) -> int:
    """The `gansweep ui` command: serve until Ctrl-C."""
    uri = store.tracking_uri()
    if uri.startswith(("http://", "https://")):
        print(f"the tracking store is already a server: open {uri} in a browser")
        return 0
    return serve_until_interrupted(
        "MLflow UI", host, lambda: start_ui(uri, host, port), f"store {uri}"
    )


def serve_until_interrupted(name: str, host: str, start, what: str) -> int:
    """Start a server with `start()` -> (process, url), print its address, wait for Ctrl-C."""
    if host != "127.0.0.1":
        print(f"warning: serving on {host}: anyone who reaches this machine sees the runs")
    # the server runs in its own process group, so a signal to us must stop it: Ctrl-C
    # (also when started in the background, where SIGINT comes in ignored), kill, hang-up
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    proc, url = start()
    print(f"{name}: {url}   ({what}; Ctrl-C stops it)", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        print(f"\nstopping the {name}", flush=True)
    finally:
        stop_ui(proc)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
