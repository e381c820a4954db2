"""Server-rendered SVG charts (no JavaScript library): stacked horizontal bars and weekly bars.

Hand-written because the two chart shapes are tiny and must render inside a strict CSP without
scripts; every chart carries a <title>/<desc> and the template shows the same numbers as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

#: fill colours per state; each has ≥ 3:1 contrast against white as a graphical object (WCAG 1.4.11)
STATE_COLOURS = {
    "not_started": "#8f959e", "in_progress": "#0f6cbf", "achieved": "#357a32", "pending_approval": "#a15c00",
    "approved": "#5b3f9e", "held": "#6a737b", "issued": "#1d5c1a", "failed": "#ca3120", "flagged": "#c2410c",
    "revoked": "#212529",
}


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], state_labels: dict[str, str], *,
                 title: str, description: str, width: int = 720) -> Markup:
    """One bar per row, segments in ``state_labels`` order; each segment has its own <title>."""
    label_w, bar_h, gap, top = 270, 30, 10, 8
    bar_w = width - label_w - 60
    height = top + len(rows) * (bar_h + gap) + 4
    parts = [f'<svg class="chart" role="img" aria-labelledby="ct-{id(rows)} cd-{id(rows)}" '
             f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="ct-{id(rows)}">{escape(title)}</title><desc id="cd-{id(rows)}">{escape(description)}</desc>']
    for i, (label, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        total = sum(counts.values()) or 1
        lines = _wrap(label, 38)
        first_y = y + bar_h / 2 - (len(lines) - 1) * 7 + 4
        spans = "".join(f'<tspan x="0" y="{first_y + i * 14:.1f}">{escape(line)}</tspan>'
                        for i, line in enumerate(lines))
        parts.append(f'<text class="chart-label"><title>{escape(label)}</title>{spans}</text>')
        x = float(label_w)
        for state, name in state_labels.items():
            n = counts.get(state, 0)
            if not n:
                continue
            w = bar_w * n / total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{STATE_COLOURS.get(state, "#555")}"><title>{escape(name)}: {n}</title></rect>')
            x += w
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + bar_h * 0.7:.1f}" class="chart-value">'
                     f'{sum(counts.values())}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text piece above went through escape()


def _wrap(label: str, width: int, lines: int = 2) -> list[str]:
    """A label on up to ``lines`` lines of about ``width`` characters, broken between words; only a
    label longer than that is shortened (and its <title> keeps it whole)."""
    out: list[str] = []
    current = ""
    for word in label.split():
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    out.append(current)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out


def weekly_bars(weeks: Sequence[tuple[datetime, int]], week_label: dict[datetime, str], *, title: str,
                description: str, width: int = 720, height: int = 200) -> Markup:
    """Vertical bars, one per week, with the count above each bar and the week below every other."""
    bottom, top = 30, 20
    peak = max((n for _, n in weeks), default=0) or 1
    slot = width / max(len(weeks), 1)
    plot_h = height - bottom - top
    parts = [f'<svg class="chart" role="img" aria-labelledby="wt-{id(weeks)} wd-{id(weeks)}" '
             f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="wt-{id(weeks)}">{escape(title)}</title>'
             f'<desc id="wd-{id(weeks)}">{escape(description)}</desc>']
    for i, (start, n) in enumerate(weeks):
        h = plot_h * n / peak
        x = i * slot + slot * 0.15
        y = top + plot_h - h
        label = escape(week_label.get(start, start.date().isoformat()))
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#0f6cbf">'
                     f'<title>{label}: {n}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                     f'class="chart-value">{n}</text>')
        if i % 2 == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" '
                         f'class="chart-label">{label}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text piece above went through escape()
