"""A sweep, from the driver to the trial workers: `driver` runs it, `assembly` builds the
Ray Tune run (searcher, scheduler, callbacks, trainable), `trial` is the worker, `pruning`
and `searcher` decide, `ledger` keeps the book, `summary` and `progress` report it.
docs/design.md draws how they fit."""
