"""Where a sweep's Optuna study lives: an RDB storage, so the study outlives the driver's
memory and `optuna-dashboard` (`make dashboard`) can read it while the sweep runs.

By default a SQLite file in the sweep's folder: the driver is the study's only writer, so
SQLite's single-writer lock never waits, and the study travels with the folder. On a
cluster, GANSWEEP_OPTUNA_STORAGE may name a shared database instead (the PostgreSQL of
`make cluster-up`, docs/cluster.md); one database then holds every sweep's study, each
named after its sweep folder. The URL of that variable is never written to the sweep's
files or printed whole: it may carry a password.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna

STUDY_FILE = "optuna.db"
STORAGE_ENV = "GANSWEEP_OPTUNA_STORAGE"


def storage_url(folder: Path) -> str:
    return os.environ.get(STORAGE_ENV) or f"sqlite:///{Path(folder) / STUDY_FILE}"


def open_storage(folder: Path) -> optuna.storages.RDBStorage:
    # skip_table_creation is off: the first sweep on a new database creates Optuna's tables
    return optuna.storages.RDBStorage(storage_url(folder))


def study_name(folder: Path) -> str:
    """One study per sweep: the sweep folder's name (space and start time) is unique."""
    return Path(folder).name


def shown_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
