"""`make dashboard` as a person uses it: optuna-dashboard over the Optuna study of a real
sweep (the session's tiny sweep), opened in headless Chromium: the study is listed under
the sweep's name, its trial list counts every trial, a pruned trial shows its pruning
reason and a finished one its sampled values. Skips, with the reason, where the browser is
not installed (.ci/run installs it)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pipelines.dashboard import SweepFolderError, start_dashboard, study_storage, sweep_folder
from pipelines.ui import free_port, stop_ui
from tests.production.browser import WAIT_S, browser_missing, chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dashboard(tiny_sweep_store, tmp_path_factory):
    _, result = tiny_sweep_store
    log = (tmp_path_factory.mktemp("dashboard") / "optuna-dashboard.log").open("w")
    proc, url = start_dashboard(study_storage(result.path), port=free_port(), log=log)
    yield url, result
    stop_ui(proc)
    log.close()
    assert proc.poll() is not None


def test_the_latest_sweep_is_found_by_folder_and_name(tiny_sweep_store, monkeypatch):
    _, result = tiny_sweep_store
    monkeypatch.setenv("GANSWEEP_STORAGE", str(result.path.parent))
    assert sweep_folder() == result.path
    assert sweep_folder(result.path.name) == result.path
    assert sweep_folder(str(result.path)) == result.path
    with pytest.raises(SweepFolderError, match=result.path.name):  # lists the sweeps there are
        sweep_folder("no-such-sweep")


def test_dashboard_serves_the_sweeps_study(dashboard):
    url, result = dashboard
    with urllib.request.urlopen(f"{url}/api/studies") as r:
        names = [s["study_name"] for s in json.load(r)["study_summaries"]]
    assert names == [result.path.name]


def test_browser_shows_each_trial_its_state_and_prune_reason(dashboard, tmp_path):
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import url_contains
    from selenium.webdriver.support.wait import WebDriverWait

    url, result = dashboard
    table = result.table
    pruned = table[table.state == "pruned"].iloc[0]
    finished = table[table.state == "finished"].iloc[0]
    driver = chromium(tmp_path)
    try:
        driver.get(f"{url}/dashboard")
        driver.find_element(By.XPATH, f"//*[text()='{result.path.name}']").click()
        WebDriverWait(driver, WAIT_S).until(url_contains("/dashboard/studies/"))
        driver.get(f"{url}/dashboard/studies/{study_id(url)}/trials")  # its trial list
        driver.find_element(By.XPATH, f"//*[normalize-space(.)='{len(table)} Trials']")
        pages = {}
        for row in (pruned, finished):
            number = trial_number(url, row.trial_id)
            driver.find_element(By.XPATH, f"//*[normalize-space(.)='Trial {number}']").click()
            # the detail pane shows the trial's user attributes: wait for its sweep trial id
            driver.find_element(By.XPATH, f"//*[contains(normalize-space(.), '{row.trial_id}')]")
            pages[row.state] = driver.page_source
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
    finally:
        driver.quit()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert "Pruned" in pages["pruned"] and pruned.reason in pages["pruned"]
    assert "optim.lr_g" in pages["finished"]
    assert repr(float(finished.objective)) in pages["finished"]  # its value, as Optuna holds it


def study_id(url: str) -> int:
    with urllib.request.urlopen(f"{url}/api/studies") as r:
        (study,) = json.load(r)["study_summaries"]
    return study["study_id"]


def trial_number(url: str, trial_id: str) -> int:
    """The Optuna trial number of a sweep trial, through the dashboard's own API."""
    with urllib.request.urlopen(f"{url}/api/studies/{study_id(url)}?after=0") as r:
        trials = json.load(r)["trials"]
    for t in trials:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        if attrs.get("trial_id") == trial_id:
            return t["number"]
    raise AssertionError(f"trial {trial_id} is not in the study")
