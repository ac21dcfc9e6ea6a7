"""`make report`: `data` gathers a sweep from MLflow, `plots` draws it, `page` writes the
HTML file."""
