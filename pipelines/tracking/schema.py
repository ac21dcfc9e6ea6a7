"""The names gansweep writes to MLflow, in one place.

The writers (pipelines/tracking/store.py, trial_runs.py, train_runs.py and
pipelines/sweep/driver.py) and the readers (lookup.py, pipelines/report/data.py,
pipelines/export.py, pipelines/sample.py) use these constants, so a renamed tag cannot
leave one side behind. docs/design.md shows which run carries what.
"""

PARENT_TAG = "mlflow.parentRunId"  # a trial's run names its sweep's parent run
KIND_TAG = "gansweep.kind"  # what a run is: SWEEP or TRAIN
SWEEP, TRAIN = "sweep", "train"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
# MLflow 3's UI opens an experiment of this kind on its runs, not on GenAI traces
EXPERIMENT_KIND = "custom_model_development"

# --- a sweep's parent run ----------------------------------------------------------------
SPACE_TAG = "space"
GIT_COMMIT_TAG = "git_commit"
SWEEP_PATH_TAG = "sweep_path"
OBJECTIVE_PARAM = "objective"  # "min objective": direction, then metric
MILESTONES_PARAM = "pruning.milestones"
BASE_CONFIG_ARTIFACT = "base_config.yaml"
SUMMARY_ARTIFACT = "summary.json"
SUMMARY_TEXT_ARTIFACT = "summary.txt"
REPORT_ARTIFACT = "report/report.html"

# --- a trial's child run ----------------------------------------------------------------
TRIAL_ID_TAG = "trial_id"
STATE_TAG = "state"  # running, then how it ended (pipelines/outcome.py); LOST
LOST = "lost"  # a run of a trial the resumed sweep does not have (store.close_lost_runs)
PRUNE_REASON_TAG = "prune_reason"
FINAL_HEALTH_TAG = "final_health"
SAMPLED_KEYS_TAG = "sampled_keys"  # the keys the space sampled, comma-separated
ERROR_TAG = "error"
NODE_TAG = "node"
PLATFORM_TAG = "platform"  # gan_core/platform.py: where a trial or a train run trained
CONFIG_ARTIFACT = "config.yaml"  # the trial's full config
GRID_DIR = "samples"  # samples/step_000500.png, ... and the last one again as:
FINAL_GRID = "final.png"
GRID_ARTIFACT = f"{GRID_DIR}/{FINAL_GRID}"
SCORE_ARTIFACT = "scores.png"

# --- a production training run (`make train`) ---------------------------------------------
HEALTH_TAG = "health"
MODEL_URI_TAG = "model_uri"
SOURCE_PREFIX = "source."  # the sweep trial an exported config came from
SOURCE_TAG = SOURCE_PREFIX + "trial_run_id"
