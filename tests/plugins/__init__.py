"""The suite's own pytest plugins, one job each; the root conftest.py loads them."""
