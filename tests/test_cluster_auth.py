"""The loopback cluster's PostgreSQL (deploy/cluster.py) asks every connection for its
generated password (scram-sha-256): a real server on loopback, started alone."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from tests.helpers import skip_unless_postgres_starts


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    from deploy import cluster as tool

    skip_unless_postgres_starts(tool)
    layout = tool.Layout(tmp_path_factory.mktemp("pg"), pg_port=54333)
    try:
        tool.start_postgres(layout)
        yield tool, layout
    finally:
        tool.down(layout, purge=True)


def login(tool, layout, host: str, password: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    cmd = [tool.pg_tool("psql"), "-h", host, "-p", str(layout.pg_port), "-U", "postgres", "-w"]
    cmd += ["-d", "mlflow", "-tAc", "SELECT current_user"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)


def test_a_login_needs_the_generated_password(postgres):
    tool, layout = postgres
    socket_dir = str(tool.pg_data_dir(layout))  # the local socket asks for it too
    for host in ("127.0.0.1", socket_dir):
        refused = login(tool, layout, host, password=None)
        assert refused.returncode != 0 and "no password supplied" in refused.stderr
        wrong = login(tool, layout, host, password="postgres")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        allowed = login(tool, layout, host, password=layout.password_file.read_text().strip())
        assert allowed.returncode == 0 and allowed.stdout.strip() == "postgres", allowed.stderr


def test_the_secret_is_a_0600_file_of_the_state_folder_and_in_no_log(postgres):
    tool, layout = postgres
    assert stat.S_IMODE(layout.password_file.stat().st_mode) == 0o600
    secret = layout.password_file.read_text().strip()
    assert len(secret) >= 40  # secrets.token_urlsafe(32)
    assert secret not in layout.log_file("postgres").read_text(errors="replace")
    assert secret not in layout.backend_uri("x") and secret in layout.backend_uri(secret)


def test_a_passwordless_or_orphaned_database_is_refused(tmp_path):
    from deploy import cluster as tool

    layout = tool.Layout(tmp_path / "state")
    data = tmp_path / "pg"
    data.mkdir()
    (data / "pg_hba.conf").write_text("# TYPE DATABASE USER ADDRESS METHOD\nlocal all all trust\n")
    with pytest.raises(tool.ClusterError, match=f"{data} lets anyone log in without a password"):
        tool.check_existing(layout, data)
    (data / "pg_hba.conf").write_text("local all all scram-sha-256\n")
    with pytest.raises(tool.ClusterError, match=f"{layout.password_file} is gone"):
        tool.check_existing(layout, data)
    tool.pg_password(layout)
    tool.check_existing(layout, data)  # a password and no trust rule: used as it is


def test_a_database_outside_the_state_folder_belongs_to_that_folder_alone(tmp_path):
    """As root under a private tmp, the database lives in /tmp: keyed by port and state
    folder, so an orphan left there by a killed run of another folder (CI failed on one at
    /tmp/gansweep-pg-54331) is never refused as this folder's database."""
    from deploy import cluster as tool

    first, second = (tool.Layout(tmp_path / name, pg_port=54331) for name in ("a", "b"))
    assert tool.outside_pg_dir(first) != tool.outside_pg_dir(second)
    assert tool.outside_pg_dir(first) == tool.outside_pg_dir(
        tool.Layout(tmp_path / "a", pg_port=54331)
    )
    assert str(tool.outside_pg_dir(first)).startswith("/tmp/gansweep-pg-54331-")
    # the unix socket lives in that folder: its path must stay under 108 characters
    assert len(f"{tool.outside_pg_dir(first)}/.s.PGSQL.54331") < 108


def test_a_port_another_process_holds_is_named_before_its_service_starts(tmp_path):
    import socket

    from deploy import cluster as tool

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        layout = tool.Layout(tmp_path / "state", pg_port=port)
        with pytest.raises(tool.ClusterError, match=f"port {port} .*GANSWEEP_PG_PORT"):
            tool.up(layout, nodes=())
    assert not layout.log_file("postgres").exists()  # refused before PostgreSQL was spawned
