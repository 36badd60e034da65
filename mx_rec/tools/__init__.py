"""Command-line tools: python -m mx_rec.tools.<tool> --help."""
