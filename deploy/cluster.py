"""A real multi-node Ray cluster and an MLflow server on PostgreSQL, on this machine's
loopback: `python deploy/cluster.py up|down|status` (`make cluster-up` / `cluster-down`).

- PostgreSQL (Debian's packages): a private cluster made with `initdb` under the state
  folder, listening on 127.0.0.1 only, on a non-default port; run as the `postgres` user
  when we are root (PostgreSQL refuses to run as root). Every connection, local socket
  included, needs the password (scram-sha-256): a secret generated once and kept in
  <state>/pg-password (mode 0600), never printed and never on a command line.
- `mlflow server` on 127.0.0.1 with that database as backend store (its URI, which
  carries the password, reaches the server in its environment) and a folder as its
  artifact store (`--artifacts-destination`): clients upload artifacts through the server,
  so no worker's local disk is involved.
- A Ray head and one more Ray node, each started by `ray start --block` with its own CPUs,
  a custom resource naming it (`node:head`, `node:w1` style: `gansweep_head`,
  `gansweep_w1`) and its own ports, so a trial's placement can be seen.

Every process is started in its own session (= process group) with its group id in a pid
file; `down` sends SIGTERM to each group, then SIGKILL to what is left, so nothing stays
behind (`ray start --block` takes its raylet, GCS and workers down with it).

State folder: GANSWEEP_CLUSTER_DIR, default runs/cluster in the repo (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's ray and mlflow
DATABASES = ("mlflow", "optuna")
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@dataclass(frozen=True)
class Layout:
    """Where the cluster keeps its state and which ports it uses."""

    root: Path
    ray_port: int = int(os.environ.get("GANSWEEP_RAY_PORT", "6390"))
    pg_port: int = int(os.environ.get("GANSWEEP_PG_PORT", "54329"))
    mlflow_port: int = int(os.environ.get("GANSWEEP_MLFLOW_PORT", "5055"))

    @property
    def ray_address(self) -> str:
        return f"127.0.0.1:{self.ray_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def password_file(self) -> Path:
        return self.root / "pg-password"

    @property
    def pgpass_file(self) -> Path:
        return self.root / "pgpass"

    @property
    def optuna_storage(self) -> str:
        """The sweeps' Optuna database; no password in it (libpq reads PGPASSFILE)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/optuna"

    def backend_uri(self, password: str) -> str:
        secret = urllib.parse.quote(password, safe="")
        return f"postgresql+psycopg2://postgres:{secret}@127.0.0.1:{self.pg_port}/mlflow"

    def pid_file(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def default_layout() -> Layout:
    root = os.environ.get("GANSWEEP_CLUSTER_DIR") or REPO / "runs" / "cluster"
    return Layout(Path(root).resolve())


class ClusterError(RuntimeError):
    pass


# --- processes, each in its own group --------------------------------------------------


def spawn(layout: Layout, name: str, cmd: list[str], env: dict | None = None) -> int:
    """Start `cmd` in a new session; its group id goes to pids/<name>.pid."""
    layout.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    layout.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    with layout.log_file(name).open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=layout.root,
        )
    layout.pid_file(name).write_text(str(proc.pid))
    return proc.pid


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a group whose leader is a zombie of ours still answers; reap it
    try:
        done, _ = os.waitpid(pgid, os.WNOHANG)
        if done == pgid:
            return group_has_members(pgid)
    except ChildProcessError:
        pass
    return True


def group_has_members(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop(layout: Layout, name: str, grace_s: float = 5.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the process group in pids/<name>.pid; SIGKILL what outlives the grace time."""
    pid_file = layout.pid_file(name)
    if not pid_file.is_file():
        return False
    pgid = int(pid_file.read_text())
    for signum, wait_s in ((sig, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            break
        deadline = time.time() + wait_s
        while time.time() < deadline and group_alive(pgid):
            time.sleep(0.1)
        if not group_alive(pgid):
            break
    pid_file.unlink(missing_ok=True)
    return True


def running(layout: Layout, name: str) -> bool:
    pid_file = layout.pid_file(name)
    return pid_file.is_file() and group_alive(int(pid_file.read_text()))


def wait_until(check, what: str, timeout: float, log: Path, name: str = "") -> None:
    """Poll `check` until true; fail early when the process group `name` has died."""
    deadline, problem = time.time() + timeout, f"timed out after {timeout:.0f} s"
    while time.time() < deadline:
        if check():
            return
        if name and not running(Layout(log.parent.parent), name):
            problem = "exited"
            break
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
    raise ClusterError(f"{what} {problem}; last lines of {log}:\n{tail}")


# --- PostgreSQL ---------------------------------------------------------------------------


def check_port_free(port: int, service: str, variable: str) -> None:
    """A port held by another process (say a server a killed run left behind) is named
    before the service that needs it starts: otherwise our server fails later, or the
    check that waits for it talks to the stranger."""
    with socket.socket() as probe:
        # as the servers do: a port whose last connections linger in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise ClusterError(
                f"port {port} for {service} is taken ({err.strerror}): stop the process that "
                f"holds it (`ss -ltnp | grep :{port}` names it) or choose another port with "
                f"{variable}"
            ) from None


def pg_tool(name: str) -> str:
    for folder in PG_BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"PostgreSQL's {name} not found: apt-get install -y postgresql")
    return found


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL will not run as root: as root, run it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_data_dir(layout: Layout) -> Path:
    """<state>/pg, or outside_pg_dir() when the `postgres` user cannot reach the state
    folder (as root, under a private folder such as pytest's tmp)."""
    inside = layout.root / "pg"
    if os.geteuid() != 0:
        return inside
    probe = as_postgres(["test", "-x", str(layout.root)])
    reachable = subprocess.run(probe, capture_output=True).returncode == 0
    return inside if reachable else outside_pg_dir(layout)


def outside_pg_dir(layout: Layout) -> Path:
    """/tmp/gansweep-pg-<port>-<digest of the state folder>: the database belongs to one state
    folder (whose pg-password opens it), so a folder left in /tmp by a killed run of another
    state folder on the same port is never taken for this one's (a reused CI machine did)."""
    digest = hashlib.sha256(str(layout.root.resolve()).encode()).hexdigest()[:12]
    return Path(f"/tmp/gansweep-pg-{layout.pg_port}-{digest}")


def pg_password(layout: Layout) -> str:
    """The database superuser's secret, made on first use; the file is 0600 from its birth."""
    path = layout.password_file
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def write_pgpass(layout: Layout) -> None:
    """A libpq password file (0600) for the sweep's driver, which opens the Optuna database
    itself: PGPASSFILE names it in the driver's environment, so the secret is in no URL,
    export line or log."""
    path = layout.pgpass_file
    if path.is_file():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"127.0.0.1:{layout.pg_port}:*:postgres:{pg_password(layout)}\n")


def pg_env(layout: Layout) -> dict[str, str]:
    # libpq reads PGPASSWORD; a process's environment is readable by its user and root only
    return {**os.environ, "PGPASSWORD": pg_password(layout)}


@contextlib.contextmanager
def readable_by_postgres(path: Path) -> Iterator[Path]:
    """The password file where initdb, run as the `postgres` user, can read it: as root, a
    0600 copy owned by `postgres` in a private temporary folder, deleted right after."""
    if os.geteuid() != 0:
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="gansweep-pw-"))
    try:
        copy = folder / "pw"
        copy.touch(mode=0o600)
        copy.write_text(path.read_text())
        for item in (folder, copy):
            shutil.chown(item, "postgres", "postgres")
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def initdb(layout: Layout, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    pg_password(layout)
    with readable_by_postgres(layout.password_file) as pwfile:
        cmd = [pg_tool("initdb"), "-D", str(data), "-U", "postgres"]
        cmd += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]  # no trust: any user could log in
        made = subprocess.run(as_postgres(cmd), capture_output=True, text=True, cwd="/tmp")
    if made.returncode != 0:
        raise ClusterError(f"initdb -D {data} failed: {made.stderr[-1500:]}")


def check_existing(layout: Layout, data: Path) -> None:
    """A database made before passwords, or whose password file is gone, is refused."""
    hba = (data / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and line[0] != "#"]
    if any("trust" in rule for rule in rules):
        why = "lets anyone log in without a password (--auth=trust, an older deploy/cluster.py)"
    elif not layout.password_file.is_file():
        why = f"has a password that no file holds any more ({layout.password_file} is gone)"
    else:
        return
    raise ClusterError(
        f"the PostgreSQL cluster in {data} {why}; delete that folder (the MLflow runs recorded "
        f"in it go with it) and run cluster-up again to make one with a new password"
    )


def start_postgres(layout: Layout) -> None:
    check_port_free(layout.pg_port, "PostgreSQL", "GANSWEEP_PG_PORT")
    data = pg_data_dir(layout)
    if (data / "PG_VERSION").is_file():
        check_existing(layout, data)
    else:
        initdb(layout, data)
    server = [pg_tool("postgres"), "-D", str(data), "-p", str(layout.pg_port)]
    server += ["-h", "127.0.0.1", "-k", str(data)]  # TCP on loopback; socket in its folder
    spawn(layout, "postgres", as_postgres(server))
    isready = [pg_tool("pg_isready"), "-h", "127.0.0.1", "-p", str(layout.pg_port)]
    wait_until(
        lambda: subprocess.run(isready, capture_output=True).returncode == 0,
        "PostgreSQL",
        60,
        layout.log_file("postgres"),
        "postgres",
    )
    psql = [pg_tool("psql"), "-h", "127.0.0.1", "-p", str(layout.pg_port), "-U", "postgres"]
    psql += ["-w"]  # never prompt: the password comes from pg_env
    exists = subprocess.run(
        [*psql, "-tAc", "SELECT 1"],
        capture_output=True,
        text=True,
        env=pg_env(layout),
    )
    if exists.returncode != 0:
        raise ClusterError(f"PostgreSQL on 127.0.0.1:{layout.pg_port}: {exists.stderr.strip()}")
    # mlflow: the tracking server's store; optuna: every sweep's study (pipelines/sweep/study.py)
    for name in DATABASES:
        query = f"SELECT 1 FROM pg_database WHERE datname='{name}'"
        found = subprocess.run(
            [*psql, "-tAc", query], capture_output=True, text=True, env=pg_env(layout)
        )
        if found.stdout.strip() != "1":
            create = [*psql, "-c", f"CREATE DATABASE {name}"]
            subprocess.run(create, check=True, capture_output=True, env=pg_env(layout))
    write_pgpass(layout)


# --- MLflow server -------------------------------------------------------------------------


def start_mlflow(layout: Layout) -> None:
    check_port_free(layout.mlflow_port, "the MLflow server", "GANSWEEP_MLFLOW_PORT")
    artifacts = layout.root / "mlflow-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port"]
    cmd += [str(layout.mlflow_port), "--workers", "1"]
    cmd += ["--artifacts-destination", str(artifacts)]
    # the store's URI carries the password: in the environment, not argv (which `ps` shows
    # to every user)
    spawn(
        layout, "mlflow", cmd, {"MLFLOW_BACKEND_STORE_URI": layout.backend_uri(pg_password(layout))}
    )
    wait_until(
        lambda: http_ok(f"{layout.tracking_uri}/health"),
        "MLflow",
        120,
        layout.log_file("mlflow"),
        "mlflow",
    )


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


# --- Ray ------------------------------------------------------------------------------------

# name -> (CPUs, dashboard agent ports): each node on this machine needs its own agent ports
RAY_NODES = {"head": (1, 52365, 52366), "w1": (1, 52375, 52376)}


def ray_node_cmd(layout: Layout, name: str, cpus: int, agent_ports: tuple[int, int]) -> list[str]:
    cmd = [str(BIN / "ray"), "start", "--block", "--node-ip-address=127.0.0.1"]
    cmd += [f"--num-cpus={cpus}", "--num-gpus=0", "--object-store-memory=200000000"]
    cmd += [f"--resources={json.dumps({f'gansweep_{name}': 1})}"]
    cmd += [f"--dashboard-agent-listen-port={agent_ports[0]}"]
    cmd += [f"--dashboard-agent-grpc-port={agent_ports[1]}"]
    if name == "head":
        cmd += ["--head", f"--port={layout.ray_port}", "--include-dashboard=false"]
        cmd += [f"--temp-dir={ray_temp_dir(layout)}"]
    else:
        cmd += [f"--address={layout.ray_address}"]
    return cmd


def ray_temp_dir(layout: Layout) -> str:
    # short: Ray's unix socket paths must stay under 108 characters
    return f"/tmp/gansweep-ray-{layout.ray_port}"


def start_ray_node(layout: Layout, name: str, cpus: int | None = None, wrap=None) -> None:
    """Start one Ray node and wait until the cluster lists it; `wrap` prefixes the command
    (tests use it to start a node in its own mount namespace)."""
    default_cpus, *ports = RAY_NODES[name]
    cmd = ray_node_cmd(layout, name, cpus or default_cpus, tuple(ports))
    env = {**ray_env(), "RAY_worker_niceness": "0"}
    if name == "head":
        check_port_free(layout.ray_port, "the Ray head", "GANSWEEP_RAY_PORT")
        ensure_ray_token()  # the head starts the cluster: its token must exist before it
    else:
        # A node restarted after it was killed: the cluster lists the dead one as alive until
        # its health checks time out, and the wait below would pass before the new one joined.
        # (Not for the head: with no cluster up, `ray status` only answers at its timeout.)
        wait_until(
            lambda: f"gansweep_{name}" not in alive_ray_resources(layout),
            f"the cluster to drop the earlier Ray node {name}",
            120,
            layout.log_file("ray-head"),
        )
    spawn(layout, f"ray-{name}", [*(wrap or []), *cmd], env)
    wait_until(
        lambda: f"gansweep_{name}" in alive_ray_resources(layout),
        f"Ray node {name}",
        90,
        layout.log_file(f"ray-{name}"),
        f"ray-{name}",
    )


def alive_ray_resources(layout: Layout) -> str:
    """`ray status` of the cluster (it lists each live node's custom resources); '' if down."""
    cmd = [str(BIN / "ray"), "status", f"--address={layout.ray_address}"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=ray_env())
    except subprocess.SubprocessError:
        return ""
    return out.stdout if out.returncode == 0 else ""


def ray_env() -> dict[str, str]:
    # Token auth, as Ray's own local clusters use by default: a process that once started a
    # local Ray holds token auth for its lifetime and refuses tokenless calls from a cluster
    # that has auth off (every trial actor then dies at start). Nodes and drivers on this
    # machine share the token in ~/.ray/auth_token, which `ray start --head` creates.
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}


def ensure_ray_token() -> None:
    """Create ~/.ray/auth_token where it is missing (a fresh machine): `ray start` refuses to
    start a node under token auth without one. The token goes to that file only, not to a log."""
    cmd = [str(BIN / "ray"), "get-auth-token", "--generate"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ray_env())
    if out.returncode != 0:
        raise ClusterError(f"`ray get-auth-token --generate` failed: {out.stderr[-1000:]}")


def ray_is_up(layout: Layout) -> bool:
    return running(layout, "ray-head") and "gansweep_head" in alive_ray_resources(layout)


# --- up / down / status ------------------------------------------------------------------------

ORDER = ["postgres", "mlflow", "ray-head", "ray-w1"]


def up(layout: Layout, nodes: tuple[str, ...] = ("head", "w1"), cpus: dict | None = None) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    if not running(layout, "postgres"):
        start_postgres(layout)
    if not running(layout, "mlflow"):
        start_mlflow(layout)
    for name in nodes:
        if not running(layout, f"ray-{name}"):
            start_ray_node(layout, name, (cpus or {}).get(name))


def down(layout: Layout, purge: bool = False) -> list[str]:
    """Stop everything, workers before the head, the server before its database; `purge`
    also deletes the database (the state folder is the caller's)."""
    stopped = []
    for name in ["ray-w1", "ray-head", "mlflow", "postgres"]:
        if stop(layout, name):
            stopped.append(name)
    shutil.rmtree(ray_temp_dir(layout), ignore_errors=True)
    if purge:
        shutil.rmtree(pg_data_dir(layout), ignore_errors=True)
        layout.password_file.unlink(missing_ok=True)  # the secret of that database only
        layout.pgpass_file.unlink(missing_ok=True)
    return stopped


def status(layout: Layout) -> dict[str, bool]:
    return {name: running(layout, name) for name in ORDER}


def driver_env(layout: Layout) -> dict[str, str]:
    """What a sweep's driver needs to run on this cluster and record to its server."""
    return {
        "RAY_ADDRESS": layout.ray_address,
        "RAY_AUTH_MODE": "token",
        "MLFLOW_TRACKING_URI": layout.tracking_uri,
        "GANSWEEP_STORAGE": str(layout.root / "sweeps"),
        "GANSWEEP_OPTUNA_STORAGE": layout.optuna_storage,
        "PGPASSFILE": str(layout.pgpass_file),
    }


def exports(layout: Layout) -> str:
    return "\n".join(f"export {key}={value}" for key, value in driver_env(layout).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    layout = default_layout()
    if args.action == "up":
        try:
            up(layout)
        except (ClusterError, subprocess.CalledProcessError) as err:
            print(f"cluster-up failed: {err}\nstopping what started", file=sys.stderr)
            down(layout)
            return 1
        print(f"up: Ray head + 1 node, MLflow on PostgreSQL; state in {layout.root}")
        print(exports(layout))
    elif args.action == "down":
        print("stopped: " + (", ".join(down(layout)) or "nothing was running"))
    else:
        for name, alive in status(layout).items():
            print(f"{name:10s} {'running' if alive else 'stopped'}")
        if all(status(layout).values()):
            print(exports(layout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
