"""Jinja2 templates of the board's pages (rendered with autoescape on).

Every value from a record reaches a page only through ``{{ ... }}`` with autoescape,
links are built from slugs the board makes (never from record text; the one exception,
a challenge team's code link, is a link only when it is an ``http(s)`` URL), and each page
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
{% if challenges %}<h2>Challenges</h2>
<p class="note">Final boards of challenges that have closed, ranked on the held-back
(private) labels.</p>
<table>
<thead><tr><th class="text">challenge</th><th class="text">winner</th>
<th class="text">metric</th><th>score</th><th>teams</th><th class="text">closed</th>
</tr></thead>
<tbody>
{% for challenge in challenges %}<tr>
<td class="text"><a href="{{ challenge.href }}">{{ challenge.title }}</a></td>
<td class="text">{{ challenge.winner }}</td><td class="text">{{ challenge.metric }}</td>
<td>{{ challenge.value }}</td><td>{{ challenge.n_teams }}</td>
<td class="text">{{ challenge.closed }}</td>
</tr>
{% endfor %}</tbody>
</table>
{% endif %}
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

CHALLENGE = """{% extends "base.html" %}
{% block body %}
<h2>Final board</h2>
<p class="note">Each team's final submission, ranked by its score on the held-back
(private) labels: {{ metrics|join(", then ") }}. Public scores are those of the same
submission on the public part.</p>
<table>
<thead><tr><th>rank</th><th class="text">team</th>
{% for metric in metrics %}<th>{{ metric }}</th>{% endfor %}
{% for metric in metrics %}<th>public {{ metric }}</th>{% endfor %}
<th>submissions</th>
{% if has_method %}<th class="text">method</th>{% endif %}
{% if has_code %}<th class="text">code</th>{% endif %}
</tr></thead>
<tbody>
{% for row in rows %}<tr><td>{{ row.rank }}</td><td class="text">{{ row.team }}</td>
{% for score in row.private %}<td>{{ score }}</td>{% endfor %}
{% for score in row.public %}<td>{{ score }}</td>{% endfor %}
<td>{{ row.n_submissions }}</td>
{% if has_method %}<td class="text">{{ row.method }}</td>{% endif %}
{% if has_code %}<td class="text">{% if row.code_href %}<a href="{{ row.code_href }}"
 rel="nofollow noopener noreferrer">{{ row.code_text }}</a>
{%- else %}{{ row.code_text }}{% endif %}</td>{% endif %}
</tr>
{% endfor %}</tbody>
</table>
<h2>Challenge</h2>
<dl class="facts">{% for name, value in facts %}<dt>{{ name }}</dt><dd>{{ value }}</dd>
{% endfor %}<dt>private labels sha256</dt><dd><code>{{ private_sha256 }}</code></dd>
</dl>
<p class="note">The sha256 was published when the challenge opened: the labels that
ranked the teams are the ones it names.</p>
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "board.html": BOARD,
    "index.html": INDEX,
    "task.html": TASK,
    "run.html": RUN,
    "challenge.html": CHALLENGE,
}
