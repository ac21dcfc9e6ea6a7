"""MLflow: `store` (client, experiments, parent runs), `trial_runs` (a sweep's child runs,
written from the driver through a queue), `train_runs` (a production run), `lookup`
(finding sweeps and trials again) and `generator_model` (the trained generator)."""
