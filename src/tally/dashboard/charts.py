"""The history chart: server-side SVG drawn by pygal, readable with no JavaScript at all.

pygal's own tooltips would load a script from its site, so the charts are drawn without
scripts (``js=[]``) and the inline configuration script pygal always writes is taken out
(the page's Content-Security-Policy would refuse it anyway). Each point carries its value
as an SVG ``<desc>``, and the page gives the same numbers as a table beside the chart.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta

import pygal
from markupsafe import Markup
from pygal.style import Style

from tally.dashboard.views import Series, channel_label

# pygal adds a finder to sys.meta_path at import, for map plugins Tally does not use. It has
# no find_spec, so on Python 3.11 every import that fails anywhere in the process warns
# (ImportWarning) on its way through it: take it out again.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "pygal"]

#: Dark text on white and two lines told apart by more than colour (one is dashed); the
#: colours meet WCAG's 3:1 for graphics against white.
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#59636e",
    colors=("#0550ae", "#1a7f37"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=15,
    title_font_size=16,
    guide_stroke_color="#d0d7de",
    major_guide_stroke_color="#d0d7de",
)


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


#: Over a longer span the labels name the year, and no longer the time of day.
LONG_SPAN = timedelta(days=60)


def _short(moment: datetime) -> str:
    return moment.strftime("%d %b %H:%M")


def _long(moment: datetime) -> str:
    return moment.strftime("%d %b %Y")


def history_chart(series: Series) -> Markup:
    """One channel's ``subscribed`` and ``subscribed_sendable`` over time, as inline SVG."""
    chart = pygal.DateTimeLine(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        explicit_size=False,
        width=640,
        height=300,
        title=f"{channel_label(series.channel)}: subscribed and sendable over time",
        x_value_formatter=_long if series.times and series.times[-1] - series.times[0] > LONG_SPAN else _short,
        x_label_rotation=0,
        show_x_guides=False,
        show_y_guides=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        dots_size=3,
        truncate_legend=-1,
        no_data_text="No refresh in this window",
        # From zero: a count's axis that starts anywhere else makes small changes look large.
        include_x_axis=True,
        value_formatter=lambda value: f"{value:,.0f}",
        min_scale=2,
        max_scale=6,
    )
    chart.add("subscribed", list(zip(series.times, series.subscribed, strict=True)))
    chart.add(
        "subscribed_sendable",
        list(zip(series.times, series.subscribed_sendable, strict=True)),
        stroke_style={"width": 2, "dasharray": "6, 4"},
    )
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    # The SVG is pygal's own output from numbers and channel names Tally checked; it is
    # marked safe to be inlined, not escaped.
    return Markup(svg)
