"""Reports: paper tables (Markdown, LaTeX, CSV) and plots from a sweep's runs."""
