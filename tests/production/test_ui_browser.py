"""`make ui` and the MLflow UI as a person uses it: headless Chromium (Debian's package,
driven by Selenium through Debian's chromedriver, nothing downloaded) opens the sweep's
experiment, selects its trials, opens the comparison and finds their params and
objective. Skips, with the reason, where the browser is not installed (.ci/run installs
it)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pipelines.ui import free_port, server_command, start_ui, stop_ui
from tests.production.browser import browser_missing, chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ui(tiny_sweep_store, tmp_path_factory):
    uri, result = tiny_sweep_store
    log = (tmp_path_factory.mktemp("ui") / "mlflow-server.log").open("w")
    proc, url = start_ui(uri, port=free_port(), log=log)
    yield url, uri, result
    stop_ui(proc)
    log.close()
    assert proc.poll() is not None


def test_server_binds_loopback_with_one_worker():
    cmd = server_command("sqlite:////tmp/x/mlflow.db", "127.0.0.1", 5123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--artifacts-destination") + 1] == "/tmp/x/mlartifacts"


def test_ui_serves_the_sweeps_experiment(ui):
    url, _, result = ui
    with urllib.request.urlopen(
        f"{url}/ajax-api/2.0/mlflow/experiments/search?max_results=50"
    ) as r:
        names = {e["name"] for e in json.load(r)["experiments"]}
    assert result.space in names


def test_browser_compares_the_trials_params_and_objective(ui, tmp_path):
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from mlflow import MlflowClient
    from selenium.webdriver.common.by import By

    url, uri, result = ui
    c = MlflowClient(uri)
    trials = [c.get_run(r) for r in child_run_ids(c, result)]
    driver = chromium(tmp_path)
    try:
        driver.get(url)
        driver.find_element(By.XPATH, "//*[text()='Model training']").click()
        driver.find_element(By.XPATH, f"//a[text()='{result.space}']").click()
        # the trials are nested under the sweep's parent run: expand it, tick each trial
        parent_row = f"div[role=row][row-id='{result.parent_run_id}']"
        driver.find_element(By.CSS_SELECTOR, f"{parent_row} button").click()
        for run in trials:
            row = f"div[role=row][row-id='{run.info.run_id}']"
            box = driver.find_element(By.CSS_SELECTOR, f"{row} .ag-selection-checkbox input")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
            box.click()
        driver.find_element(By.XPATH, "//button[contains(., 'Compare')]").click()
        driver.find_element(By.XPATH, f"//*[contains(text(), 'Comparing {len(trials)} Runs')]")
        params = driver.find_element(By.XPATH, "//th[text()='optim.lr_g']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", params)
        page = driver.page_source
        driver.save_screenshot(str(tmp_path / "mlflow-compare.png"))
    finally:
        driver.quit()
    assert (tmp_path / "mlflow-compare.png").stat().st_size > 10_000
    for run in trials:
        assert run.data.tags["trial_id"] in page  # the run names
        assert run.data.params["optim.lr_g"] in page  # params, as logged
        assert format_metric(run.data.metrics["objective"]) in page
    for key in ("optim.lr_d", "loss.type", "objective"):
        assert key in page


def child_run_ids(c, result) -> list[str]:
    from pipelines.tracking.store import child_runs

    return [r.info.run_id for r in child_runs(c, result.experiment_id, result.parent_run_id)]


def format_metric(value: float) -> str:
    """How the MLflow UI prints a metric (Utils.formatMetric in its JavaScript)."""
    if value == 0:
        return "0"
    digits = 3 if abs(value) < 10 else 2 if abs(value) < 100 else 1
    text = repr(round(value, digits))
    return text[:-2] if text.endswith(".0") else text
