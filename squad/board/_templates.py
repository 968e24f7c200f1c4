"""Jinja2 templates of the board's pages (rendered with autoescape on).

Every value from a record reaches a page only through ``{{ ... }}`` with autoescape,
links are built from slugs the board makes (never from record text), and each page
carries a Content-Security-Policy that allows no script and images only from the site
itself or inline data.
"""

from __future__ import annotations

from squad.board.style import CSS

BASE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
"""
    + CSS
    + """</style>
</head>
<body>
{% if nav %}<nav>{% for item in nav %}<a href="{{ item.href }}">{{ item.text }}</a>
{% if not loop.last %} › {% endif %}{% endfor %}</nav>{% endif %}
<h1>{{ title }}</h1>
{% if subtitle %}<p>{{ subtitle }}</p>{% endif %}
{% block body %}{% endblock %}
</body>
</html>
"""
)

MACROS = """{% macro ranking(view) -%}
{% if view.flagged %}<h2>Flagged runs</h2>
<p class="flag">The metrics these runs recorded disagree with the ones computed from
their predictions; the table shows the computed ones.</p>
<ul>{% for line in view.flagged %}<li>{{ line }}</li>{% endfor %}</ul>
{% endif %}
<h2>Runs ranked by {{ view.metric }}</h2>
<table>
<thead><tr>{% for col in view.columns %}<th class="{{ col.css }}">{{ col.name }}</th>
{% endfor %}</tr></thead>
<tbody>
{% for row in view.rows %}<tr>{% for cell in row %}<td class="{{ cell.css }}">
{%- if cell.href %}<a href="{{ cell.href }}">{{ cell.text }}</a>
{%- else %}{{ cell.text }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% if view.checked %}<p class="note">check: <b>verified</b> = every metric computed
from the run's test-set predictions and the shared labels, and the recorded ones agree;
<b>DISAGREES</b> = computed from predictions, but the recorded metrics differ;
<b>self-reported</b> = no predictions file, metrics as recorded, not verified.
{% if view.reported %}Taken as the runs reported them: {{ view.reported }}.{% endif %}
</p>{% endif %}
{% for section in view.figures %}<h2>{{ section.title }}</h2>
{% for image in section.images %}<figure><img alt="{{ image.alt }}" src="{{ image.src }}">
{% if image.caption %}<figcaption>{{ image.caption }}</figcaption>{% endif %}</figure>
{% endfor %}{% endfor %}
{%- endmacro %}
"""

BOARD = """{% extends "base.html" %}{% from "macros.html" import ranking %}
{% block body %}{% for view in tasks %}
{% if tasks|length > 1 %}<h2 class="task">Task {{ view.task }}</h2>{% endif %}
{{ ranking(view) }}
{% endfor %}
{% if rejected %}<h2>Runs left out</h2><ul>
{% for line in rejected %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% endblock %}
"""

INDEX = """{% extends "base.html" %}
{% block body %}
<h2>Tasks</h2>
<p class="note">A task is a dataset, a split protocol and a language: runs are ranked
only against the runs of the same task.</p>
<table>
<thead><tr><th class="text">task</th><th class="text">leader</th>
<th>{{ metric_note }}</th><th>runs</th><th>members</th></tr></thead>
<tbody>
{% for task in tasks %}<tr>
<td class="text"><a href="{{ task.href }}">{{ task.label }}</a></td>
<td class="text">{% if task.leader_href %}<a href="{{ task.leader_href }}">
{{- task.leader }}</a>{% else %}{{ task.leader }}{% endif %}</td>
<td>{{ task.value }}</td><td>{{ task.n_runs }}</td><td>{{ task.n_members }}</td>
</tr>
{% endfor %}</tbody>
</table>
{% if rejected %}<h2>Runs left out</h2>
<p class="note">These run folders failed a check and are not on the board.</p>
<ul>{% for line in rejected %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% endblock %}
"""

TASK = """{% extends "base.html" %}{% from "macros.html" import ranking %}
{% block body %}{{ ranking(view) }}{% endblock %}
"""

RUN = """{% extends "base.html" %}
{% block body %}
<h2>Method</h2>
<dl class="facts">{% for name, value in facts %}<dt>{{ name }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
<h2>Metrics</h2>
<table><tbody>{% for name, value, how in metrics %}<tr><th class="text">{{ name }}</th>
<td>{{ value }}</td><td class="text note">{{ how }}</td></tr>
{% endfor %}</tbody></table>
<h2>Parameters</h2>
<table><tbody>{% for name, value in parameters %}<tr><th class="text">{{ name }}</th>
<td class="text">{{ value }}</td></tr>
{% endfor %}</tbody></table>
<h2>Provenance</h2>
<table><tbody>{% for name, value in provenance %}<tr><th class="text">{{ name }}</th>
<td class="text">{{ value }}</td></tr>
{% endfor %}</tbody></table>
{% if figures %}<h2>Figures</h2>
{% for image in figures %}<figure><img alt="{{ image.alt }}" src="{{ image.src }}">
<figcaption>{{ image.caption }}</figcaption></figure>
{% endfor %}{% endif %}
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "board.html": BOARD,
    "index.html": INDEX,
    "task.html": TASK,
    "run.html": RUN,
}
