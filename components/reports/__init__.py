"""Self-contained HTML reports (inline SVG, no JavaScript) for the MLflow UI."""
