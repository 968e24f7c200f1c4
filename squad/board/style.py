"""The board's stylesheet, one copy for the static site and the challenge server."""

from __future__ import annotations

__all__ = ["CSS"]

#: Rules shared by the board's pages (inline in the static site, a file on the server).
CSS = """body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
img { max-width: 100%; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
.flag { color: #a00; font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
nav { margin-bottom: 1em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; white-space: pre-wrap; }
"""
