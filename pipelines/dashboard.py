"""`make dashboard`: optuna-dashboard over a sweep's Optuna study, on 127.0.0.1.

The sampler's own view of a sweep, live while it runs: each trial's sampled values,
its state (COMPLETE, PRUNED with the pruning reason, FAIL), its intermediate values by
GAN step, and Optuna's history, importance and parallel-coordinate plots. The MLflow UI
(`make ui`) shows the training records; this shows the search.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines.sweep.driver import META_FILE, storage_root
from pipelines.sweep.study import STORAGE_ENV, shown_url, storage_url
from pipelines.ui import free_port, port_is_free, serve_until_interrupted, start_server

DEFAULT_PORT = 8080


class SweepFolderError(ValueError):
    """No sweep folder matches; the message lists the ones there are."""


def sweep_folder(sweep: str | None = None) -> Path:
    """A sweep folder by path or folder name; without one, the newest sweep."""
    if sweep and Path(sweep).expanduser().is_dir():
        return Path(sweep).expanduser().resolve()
    folders = sorted(
        (p.parent for p in storage_root().glob(f"*/{META_FILE}")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if sweep is None and folders:
        return folders[0]
    match = [f for f in folders if f.name == sweep]
    if match:
        return match[0]
    known = ", ".join(f.name for f in folders[:5]) or "none yet: run `make sweep` first"
    what = f"no sweep folder named {sweep!r}" if sweep else "no sweep"
    raise SweepFolderError(f"{what} under {storage_root()} (latest: {known})")


def study_storage(folder: Path) -> str:
    """The storage URL the sweep's driver used (its sweep.json says which kind)."""
    meta = json.loads((folder / META_FILE).read_text())
    if meta.get("optuna_storage") == "env":
        return storage_url(folder)  # the shared database of GANSWEEP_OPTUNA_STORAGE
    url = storage_url(folder)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise SweepFolderError(
            f"{folder} has no Optuna study file: it was started before studies were kept in "
            f"an RDB storage, or with {STORAGE_ENV} set (set it again to the same database)"
        )
    return url


def dashboard_command(url: str, host: str, port: int) -> list[str]:
    binary = Path(sys.executable).with_name("optuna-dashboard")
    return [str(binary), url, "--host", host, "--port", str(port), "--quiet"]


def start_dashboard(
    url: str, host: str = "127.0.0.1", port: int | None = None, log=None
) -> tuple[subprocess.Popen, str]:
    """Start optuna-dashboard on `url`, wait until it answers; returns (process, address)."""
    port = port or (DEFAULT_PORT if port_is_free(DEFAULT_PORT, host) else free_port(host))
    address = f"http://{host}:{port}"
    proc = start_server(
        dashboard_command(url, host, port), f"{address}/api/meta", "optuna-dashboard", log
    )
    return proc, address


def serve(sweep: str | None = None, host: str = "127.0.0.1", port: int | None = None) -> int:
    """The `gansweep dashboard` command: serve until Ctrl-C."""
    folder = sweep_folder(sweep)
    url = study_storage(folder)
    return serve_until_interrupted(
        "Optuna dashboard",
        host,
        lambda: start_dashboard(url, host, port),
        f"study {folder.name} in {shown_url(url)}",
    )
