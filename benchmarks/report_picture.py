"""Regenerate the README's picture of a sweep report (docs/img/report.png).

Runs the sweep of docs/spaces/report_demo.yaml into a store of its own (nothing lands in
the project's mlflow.db), writes its HTML report and photographs it with headless
Chromium (Debian's package, /usr/bin/chromium).

    .venv/bin/python benchmarks/report_picture.py [--space FILE] [--out docs/img/report.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 2000) -> None:
    with tempfile.TemporaryDirectory(prefix="gansweep-chromium-") as profile:
        subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={png}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--space", default=str(REPO / "docs" / "spaces" / "report_demo.yaml"))
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "report.png"))
    p.add_argument("--height", type=int, default=2000)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gansweep-report-picture-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["GANSWEEP_STORAGE"] = str(work / "sweeps")
    from pipelines.report.page import write_report
    from pipelines.sweep.driver import run_sweep

    start = time.time()
    result = run_sweep(args.space)
    print(f"sweep: {time.time() - start:.0f} s wall")
    html = write_report(result.parent_run_id, work / "report.html")
    screenshot(html, Path(args.out), height=args.height)
    print(f"wrote {args.out} from {html} (store {os.environ['MLFLOW_TRACKING_URI']})")


if __name__ == "__main__":
    main()
