"""results/<run>/cells.json -> matplotlib figures -> a self-contained results/<run>/index.html.

The answer comes first (harness/report/answer.py: what one call costs, per language and
transport, as a chart and one quotable figure per cell), then a table of every cell, then the charts: latency
percentiles, throughput, service CPU per request, service x transport heatmaps and latency
percentile spectra (the HdrHistogram way), the per-cell charts with one panel per caller. Images
are embedded, so the page opens from the file system. Each service keeps one colour in every chart.
"""

from __future__ import annotations

import csv
import html
import io
import json
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.contract.transports import REGISTRY, TRANSPORTS  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.report.answer import answer_grid, chart_answer  # noqa: E402
from harness.report.sweeps import chart_sweeps, result_text, sweep_table  # noqa: E402
from harness.results.aggregate import Row, aggregate, floors, payload_order  # noqa: E402
from harness.results.noise import ADVICE, UNSTABLE_PCT, unstable  # noqa: E402
from harness.results.schema import Cell, load_run  # noqa: E402
from harness.results.stats import b64  # noqa: E402

PALETTE = ["#3572A5", "#b07219", "#a90533", "#2b7a3d", "#6f42c1", "#e36209", "#17a2b8", "#6c757d"]
FALLBACK_COLOUR = "#444444"


def colour_map(names: list[str]) -> dict[str, str]:
    """A stable colour per service (or floor): its manifest's `colour`, else the next spare one of the palette."""
    from harness.contract.manifest import discover, discover_floors

    try:
        manifests = {m.name: m for m in [*discover_floors(), *discover().values()]}
    except HarnessError:  # a broken manifest in the checkout must not stop an old run's report
        manifests = {}
    declared = {n: m.colour for n, m in manifests.items() if m.colour}
    spare = [c for c in PALETTE if c not in declared.values()] or PALETTE
    out: dict[str, str] = {}
    for n in names:
        out[n] = declared.get(n) or spare[sum(1 for x in out if x not in declared) % len(spare)]
    return out


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return b64(buf.getvalue())


def _floor_manifests() -> list[Any]:
    from harness.contract.manifest import discover_floors

    try:
        return discover_floors()
    except HarnessError:  # a broken manifest in the checkout must not stop an old run's report
        return []


def line_styles() -> dict[str, Any]:
    """The matplotlib dash pattern of each transport (the registry's), so a chart tells transports apart."""
    return {name: t.line_style for name, t in REGISTRY.items()}


def _colour(colours: dict[str, str], row: Row) -> str:
    return colours.get(row.service, FALLBACK_COLOUR)


def _bars_of(rows: list[Row], payload: str) -> list[Row]:
    """Closed-loop rows of one payload with a latency, the floor of each transport first."""
    return [r for r in rows if r.payload == payload and r.kind in ("closed", "floor") and r.latency_us]


def _by_caller(data: list[Row]) -> list[tuple[str, list[Row]]]:
    """`data` split by caller, callers in name order, each keeping `data`'s order (floors first)."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in data:
        groups[r.caller].append(r)
    return sorted(groups.items())


def _panels(groups: list[tuple[str, list[Row]]], width_per_cell: float, height: float) -> tuple[Figure, list[Any]]:
    """One axis per caller, stacked, sharing the value axis, wide enough for the largest group."""
    most = max(len(g) for _, g in groups)
    fig, axes = plt.subplots(len(groups), 1, figsize=(max(6.0, width_per_cell * most + 2), height * len(groups) + 0.6),
                             sharey=True, squeeze=False)
    return fig, [a for (a,) in axes]


def _caller_title(ax: Any, caller: str, many: bool) -> None:
    if many:
        ax.set_title(f"called by {caller}", fontsize=9, loc="left")


def chart_percentiles(rows: list[Row], payload: str, colours: dict[str, str]) -> Figure | None:
    """Grouped bars: p50, p90, p99, p99.9 per cell of one payload, log scale; floors in grey; one panel per caller."""
    data = _bars_of(rows, payload)
    if not data:
        return None
    groups = _by_caller(data)
    many = len(groups) > 1
    fig, axes = _panels(groups, 0.9, 2.9)
    pcts = ["p50", "p90", "p99", "p99.9"]
    width = 0.2
    for ax, (caller, cells) in zip(axes, groups, strict=True):
        for i, r in enumerate(cells):
            for k, p in enumerate(pcts):
                ax.bar(i + (k - 1.5) * width, r.latency_us[p], width, color=_colour(colours, r),
                       alpha=1.0 - 0.2 * k, edgecolor="white")
        ax.set_xticks(range(len(cells)), [f"{r.service}\n{r.transport}" for r in cells], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("latency (µs, log)")
        ax.grid(axis="y", which="both", alpha=0.3)
        _caller_title(ax, caller, many)
    fig.suptitle(f"{payload}: latency p50 / p90 / p99 / p99.9 (darkest = p50; grey = the transport's floor)")
    fig.tight_layout()
    return fig


def chart_bars(rows: list[Row], payload: str, key: str, label: str, colours: dict[str, str],
               log: bool = False) -> Figure | None:
    """One bar per cell of one payload for a scalar `key`, one panel per caller; the transport's floor (the
    same caller's) drawn as a dashed line."""
    data = [r for r in _bars_of(rows, payload) if r.metric(key) is not None]
    if not data:
        return None
    groups = _by_caller(data)
    many = len(groups) > 1
    fig, axes = _panels(groups, 0.6, 2.6)
    for ax, (caller, cells) in zip(axes, groups, strict=True):
        fl = {r.transport: r for r in cells if r.is_floor}
        bars = ax.bar(range(len(cells)), [r.metric(key) or 0.0 for r in cells],
                      color=[_colour(colours, r) for r in cells])
        for i, (b, r) in enumerate(zip(bars, cells, strict=True)):
            mark = " *" if r.client_bound else ""
            ax.annotate(f"{r.metric(key) or 0.0:,.0f}{mark}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
            f = fl.get(r.transport)
            floor_value = f.metric(key) if f is not None and f is not r else None
            if floor_value is not None:
                ax.hlines(floor_value, i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=1)
        ax.set_xticks(range(len(cells)), [f"{r.service}\n{r.transport}" for r in cells], fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        _caller_title(ax, caller, many)
    marks = "  (* client-bound)" if any(r.client_bound for r in data) else ""
    fig.suptitle(f"{payload}: {label}  (dashed: the transport's floor){marks}", fontsize=10)
    fig.tight_layout()
    return fig


def _value(r: Row, metric: str) -> float | None:
    return r.latency_us.get(metric) if metric.startswith("p") else r.metric(metric)


def _grid(cells: dict[tuple[str, str], Row], ys: list[str], xs: list[str], metric: str, title: str,
          label: str) -> Figure:
    """A heatmap of one metric over (y, x) keys; gaps and failures written in their squares."""
    import numpy as np
    from matplotlib.colors import LogNorm

    grid = np.full((len(ys), len(xs)), np.nan)
    text = [["" for _ in xs] for _ in ys]
    for (y, x), r in cells.items():
        i, j = ys.index(y), xs.index(x)
        value = _value(r, metric)
        if value is None:
            text[i][j] = "gap" if r.status == "gap" else "failed"
        else:
            grid[i, j] = value
            text[i][j] = f"{value:,.0f}" + (" *" if r.client_bound else "")
    fig, ax = plt.subplots(figsize=(1.4 * len(xs) + 2.2, 0.6 * len(ys) + 1.4))
    cmap = plt.get_cmap("viridis_r").copy()
    cmap.set_bad("#eeeeee")
    finite = grid[np.isfinite(grid)]
    norm = LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 1.01)) \
        if finite.size and finite.min() > 0 else None
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            v = grid[i, j]
            dark = bool(np.isfinite(v) and norm is not None and norm(v) > 0.5)
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_title(title + ("  (* client-bound)" if any(r.client_bound for r in cells.values()) else ""))
    fig.colorbar(im, ax=ax, label=label)
    return fig


def _who(r: Row, many_callers: bool) -> str:
    return f"{r.caller}→{r.service}" if many_callers else r.service


def chart_heatmap(rows: list[Row], payload: str, metric: str, label: str) -> Figure | None:
    """Service (caller→service when several callers) x transport grid of one metric; floors first."""
    data = [r for r in rows if r.payload == payload and r.kind in ("closed", "floor")]
    many = len({r.caller for r in data}) > 1
    floor_names = {_who(r, many) for r in data if r.is_floor}
    ys = sorted({_who(r, many) for r in data}, key=lambda s: (s not in floor_names, s))
    xs = [t for t in TRANSPORTS if any(r.transport == t for r in data)]
    if not ys or not xs:
        return None
    return _grid({(_who(r, many), r.transport): r for r in data}, ys, xs, metric, f"{payload}: {label}", label)


def chart_callers(rows: list[Row], payload: str, transport: str, metric: str, label: str) -> Figure | None:
    """Caller x service grid of one metric on one transport: both sides of the boundary (several callers only)."""
    data = [r for r in rows if r.payload == payload and r.transport == transport and r.kind == "closed"]
    callers = sorted({r.caller for r in data})
    if len(callers) < 2:
        return None
    services = sorted({r.service for r in data})
    return _grid({(r.caller, r.service): r for r in data}, callers, services, metric,
                 f"{payload} over {transport}: {label} (rows: caller, columns: service)", label)


def chart_spectrum(rows: list[Row], payload: str, colours: dict[str, str]) -> Figure | None:
    """Latency by percentile, percentile axis log-scaled as 1/(1-p) (HdrHistogram's plot); one panel per
    caller, colour = service, line style = transport, one legend of each."""
    from matplotlib.lines import Line2D

    data = [r for r in _bars_of(rows, payload) if r.spectrum]
    if not data:
        return None
    styles = line_styles()
    groups = _by_caller(data)
    cols = 1 if len(groups) == 1 else 2
    nrows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(8.5 if cols == 1 else 12, 3.6 * nrows + 0.9), sharex=True,
                             sharey=True, squeeze=False)
    flat = [a for row in axes for a in row]
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    for ax, (caller, cells) in zip(flat, groups, strict=False):
        for r in cells:
            xs = [1.0 / (1.0 - p / 100.0) for p, _ in r.spectrum]
            ax.plot(xs, [v for _, v in r.spectrum], color=_colour(colours, r),
                    linestyle=styles.get(r.transport, "-"), linewidth=1.0 if r.is_floor else 1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"], fontsize=8)
        ax.grid(which="both", alpha=0.3)
        _caller_title(ax, caller, len(groups) > 1)
    for ax in flat[len(groups):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("percentile")
    for row in axes:
        row[0].set_ylabel("latency (µs, log)")
    services = sorted({r.service for r in data}, key=lambda n: (n != "floor", n))
    transports = [t for t in TRANSPORTS if any(r.transport == t for r in data)]
    handles = [Line2D([], [], color=colours.get(n, FALLBACK_COLOUR), linewidth=2, label=n) for n in services]
    handles += [Line2D([], [], color="black", linestyle=styles.get(t, "-"), linewidth=1.2, label=t) for t in transports]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(f"{payload}: latency percentile spectrum (colour = service, line style = transport)")
    fig.tight_layout(rect=(0, 0.06 if nrows > 1 else 0.1, 1, 1))
    return fig


def chart_curve(rows: list[Row], colours: dict[str, str]) -> Figure | None:
    """The diff cost curve: p50 latency and service CPU per request against token count, per service."""
    data = [r for r in rows if r.kind == "curve" and r.latency_us]
    if not data:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    by: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in data:
        by[(r.service, r.transport)].append(r)
    for (svc, t), pts in sorted(by.items()):
        pts.sort(key=lambda r: r.tokens or 0)
        xs = [r.tokens for r in pts]
        axes[0].plot(xs, [r.latency_us["p50"] for r in pts], marker="o", color=_colour(colours, pts[0]),
                     label=f"{svc}/{t}")
        axes[1].plot(xs, [r.service_us_per_req for r in pts], marker="o", color=_colour(colours, pts[0]),
                     label=f"{svc}/{t}")
    for ax, label in zip(axes, ("p50 latency (µs, log)", "service CPU µs per request (log)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tokens in a + b (log scale)")
        ax.set_ylabel(label)
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("diff cost curve: latency (1 user, closed loop)")
    axes[1].set_title("diff cost curve: service CPU per request")
    return fig


def write_csv(run: Path, rows: list[Row]) -> Path:
    """cells.csv: one line per caller x service x transport x payload x kind (docs/results.md), for your own plots."""
    path = run / "cells.csv"
    fields = ["caller", "service", "language", "transport", "payload", "kind", "op", "status", "reps", "requests",
              "errors", "wrong", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "p50_ci95_low", "p50_ci95_high",
              "throughput_rps", "service_us_per_req", "service_plus_redis_us_per_req", "loadgen_us_per_req",
              "loadgen_util", "client_bound", "service_rps_per_core", "caller_rps_per_core", "offered_rps",
              "max_sustainable_rps", "max_sustainable_min", "max_sustainable_max", "sweep_outcome", "sweep_result",
              "reason"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            lat = r.latency_us
            ci = r.p50_reps.get("ci95", ["", ""])
            w.writerow(["" if v is None else v for v in (
                r.caller, r.service, r.language, r.transport, r.payload, r.kind, r.op, r.status, r.reps, r.requests,
                r.errors, r.wrong, lat.get("p50"), lat.get("p90"), lat.get("p99"), lat.get("p99.9"), lat.get("max"),
                ci[0], ci[1], r.throughput_rps, r.service_us_per_req, r.service_plus_redis_us_per_req,
                r.loadgen_us_per_req, r.loadgen_util, r.client_bound, _round(r.service_rps_per_core),
                _round(r.caller_rps_per_core), r.offered_rps, r.max_sustainable_rps,
                r.max_sustainable_reps.get("min"), r.max_sustainable_reps.get("max"), r.sweep_outcome,
                result_text(r) if r.kind == "sweep" else None, r.reason)])
    return path


def _round(v: float | None) -> float | None:
    return None if v is None else round(v)


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None or v == "":
        return "–"
    return f"{v:,.{digits}f}" if isinstance(v, int | float) else html.escape(str(v))


def _spread(r: Row, key: str) -> str:
    s: dict[str, Any] = getattr(r, key)
    if not s or s.get("n", 1) < 2:
        return ""
    cls = "ci unstable" if s["spread_pct"] > UNSTABLE_PCT else "ci"
    return f"<span class='{cls}' title='95% CI of the median over {s['n']} runs: {s['ci95'][0]:,.0f}..{s['ci95'][1]:,.0f}'>" \
           f" ±{s['spread_pct']:.0f}%</span>"


def unstable_box(cells: list[Cell]) -> str:
    """One warning for every unstable measurement: a count, the advice, and the list folded away."""
    found = unstable(cells)
    if not found:
        return ""
    n_cells = len({u.cell for u in found})
    rows = "".join(f"<tr><td>{html.escape(u.cell)}</td><td>{u.metric}</td><td>{u.median:,.0f}</td>"
                   f"<td>{u.low:,.0f}..{u.high:,.0f}</td><td>±{u.spread_pct:.0f}%</td><td>{u.runs}</td></tr>"
                   for u in found)
    return (f"<div class='warn'><b>{len(found)} measurement(s) in {n_cells} cell(s) are unstable</b>: the 95% "
            f"confidence interval of the median over the repetitions is wider than ±{UNSTABLE_PCT:.0f}% "
            f"(marked <span class='ci unstable'>±N%</span> in the tables). Differences smaller than that spread "
            f"are noise. {html.escape(ADVICE)}"
            "<details><summary>which</summary><table><tr><th>cell</th><th>metric</th><th>median</th>"
            f"<th>95% CI</th><th>spread</th><th>runs</th></tr>{rows}</table></details></div>")


def summary_table(rows: list[Row], payloads: list[str]) -> str:
    """The answer first: one table row per closed-loop cell, each transport's floor on top."""
    fl = floors(rows)
    head = ("<tr><th>payload</th><th>caller → service</th><th>transport</th><th>p50 µs</th><th>p99 µs</th>"
            "<th>p99.9 µs</th><th>floor p50 µs</th><th>req/s</th><th>service CPU µs/req</th>"
            "<th>+ redis CPU µs/req</th><th title='requests per CPU-second of the service (1e6 / its CPU per request); "
            "est.: measured below saturation because the caller was the bottleneck'>service req/s per core</th>"
            "<th title='requests per CPU-second of the load generator'>caller req/s per core</th>"
            "<th>requests</th><th>errors</th><th>wrong</th><th>notes</th></tr>")
    body = []
    order = {p: i for i, p in enumerate(payloads)}
    table_rows = sorted([r for r in rows if r.kind in ("closed", "floor")],
                        key=lambda r: (order.get(r.payload, 99), TRANSPORTS.index(r.transport),
                                       not r.is_floor, r.service))
    for r in table_rows:
        lat = r.latency_us
        notes = []
        if r.kind == "floor":
            notes.append("the floor: the harness's client against a responder that does no work")
        if r.status == "gap":
            notes.append("not served: " + html.escape(r.reason))
        elif r.status == "failed":
            notes.append("FAILED: " + html.escape((r.reason or "").splitlines()[0] if r.reason else ""))
        if r.client_bound:
            notes.append("<b>client-bound</b> (" + html.escape(r.client_bound_reason) + ")")
        if r.errors or r.wrong:
            notes.append("errors: " + html.escape("; ".join(r.error_samples)[:200]))
        cls = {"gap": "gap", "failed": "failed"}.get(r.status, "bad" if r.errors or r.wrong else "")
        if r.kind == "floor":
            cls += " floor"
        redis_cpu = r.service_plus_redis_us_per_req if REGISTRY[r.transport].broker else None
        f = fl.get(r.transport)
        floor_p50 = f.latency_us["p50"] if f and r.kind != "floor" and r.op == f.op else None
        body.append(
            f"<tr class='{cls}'><td>{html.escape(r.payload)}</td><td>{html.escape(r.caller)} → {html.escape(r.service)}</td>"
            f"<td>{r.transport}</td><td>{_fmt(lat.get('p50'))}{_spread(r, 'p50_reps')}</td>"
            f"<td>{_fmt(lat.get('p99'))}</td><td>{_fmt(lat.get('p99.9'))}</td><td>{_fmt(floor_p50)}</td>"
            f"<td>{_fmt(r.throughput_rps)}{_spread(r, 'throughput_reps')}</td>"
            f"<td>{_fmt(r.service_us_per_req, 1)}</td><td>{_fmt(redis_cpu, 1)}</td>"
            f"<td>{_fmt(r.service_rps_per_core)}{' est.' if r.client_bound and r.service_rps_per_core else ''}</td>"
            f"<td>{_fmt(r.caller_rps_per_core)}{' *' if r.client_bound and r.caller_rps_per_core else ''}</td>"
            f"<td>{_fmt(r.requests)}</td><td>{_fmt(r.errors)}</td><td>{_fmt(r.wrong)}</td>"
            f"<td>{'; '.join(notes)}</td></tr>")
    return f"<table class='summary'>{head}{''.join(body)}</table>"


def open_table(rows: list[Row]) -> str:
    """Open-loop cells: offered vs achieved load, corrected vs uncorrected latency, lateness."""
    data = [r for r in rows if r.kind == "open" and r.latency_us]
    if not data:
        return ""
    head = ("<tr><th>payload</th><th>service</th><th>transport</th><th>offered req/s</th><th>achieved req/s</th>"
            "<th>p50 µs corrected</th><th>p99 µs corrected</th><th>p50 µs uncorrected</th><th>p99 µs uncorrected</th>"
            "<th>queued sends</th><th>late wake-ups</th><th>dropped</th><th>wake-up lag p50 µs</th>"
            "<th>CPU µs/req</th><th>notes</th></tr>")
    body = []
    for r in data:
        lat, unc = r.latency_us, r.latency_uncorrected_us
        notes = "<b>client-bound</b> (" + html.escape(r.client_bound_reason) + ")" \
            if r.client_bound else ""
        body.append(
            f"<tr class='{'bad' if r.errors or r.wrong else ''}'><td>{html.escape(r.payload)}</td>"
            f"<td>{html.escape(r.service)}</td><td>{r.transport}</td><td>{_fmt(r.offered_rps)}</td>"
            f"<td>{_fmt(r.throughput_rps)}</td><td>{_fmt(lat.get('p50'))}</td><td>{_fmt(lat.get('p99'))}</td>"
            f"<td>{_fmt(unc.get('p50'))}</td><td>{_fmt(unc.get('p99'))}</td><td>{_fmt(r.queued)}</td>"
            f"<td>{_fmt(r.late_wakeups)}</td><td>{_fmt(r.dropped)}</td>"
            f"<td>{_fmt(r.wakeup_lag_us.get('p50'))}</td><td>{_fmt(r.service_us_per_req, 1)}</td>"
            f"<td>{notes}</td></tr>")
    return ("<h2>Open loop</h2><p>Requests fall due at a fixed (Poisson) arrival rate whatever the replies do. "
            "<i>Corrected</i> latency counts from the intended send time when every user was busy (the service's "
            "slowness delayed the send: no coordinated omission); <i>uncorrected</i> counts from the actual send. "
            "A free user's late wake-up is the load generator's own lag (gevent's timers have millisecond "
            "granularity) and is counted apart; many of them mark the cell client-bound.</p>"
            f"<table class='summary'>{head}{''.join(body)}</table>")


def framework_tables(rows: list[Row]) -> str:
    """What a framework transport costs over the raw transport it is built on (the registry's `built_on`)."""
    return "".join(framework_table(rows, name, t.built_on) for name, t in REGISTRY.items() if t.built_on)


def framework_table(rows: list[Row], framework: str, raw: str) -> str:
    """Per caller, service and payload: the extra µs and CPU of `framework` over `raw`."""
    by = {(r.caller, r.service, r.payload, r.transport): r for r in rows
          if r.kind == "closed" and r.transport in (raw, framework) and r.latency_us}
    pairs = sorted({k[:3] for k in by if (*k[:3], raw) in by and (*k[:3], framework) in by})
    if not pairs:
        return ""
    body = []
    for caller, svc, payload in pairs:
        q, c = by[(caller, svc, payload, raw)], by[(caller, svc, payload, framework)]
        dp50 = c.latency_us["p50"] - q.latency_us["p50"]
        qcpu, ccpu = q.service_plus_redis_us_per_req, c.service_plus_redis_us_per_req
        dcpu = ccpu - qcpu if qcpu is not None and ccpu is not None else None
        ratio = c.throughput_rps / q.throughput_rps if q.throughput_rps and c.throughput_rps is not None else None
        body.append(f"<tr><td>{html.escape(payload)}</td><td>{html.escape(caller)} → {html.escape(svc)}</td>"
                    f"<td>{_fmt(q.latency_us['p50'])}</td><td>{_fmt(c.latency_us['p50'])}</td><td>{_fmt(dp50)}</td>"
                    f"<td>{_fmt(qcpu, 1)}</td><td>{_fmt(ccpu, 1)}</td><td>{_fmt(dcpu, 1)}</td>"
                    f"<td>{_fmt(ratio, 2)}</td></tr>")
    f, r = html.escape(framework), html.escape(raw)
    return (f"<h2>{f} against {r}</h2><p>The same operation through {f} and through the raw {r} transport it is "
            f"built on, per service: what the framework costs. CPU counts the service's process tree and "
            f"redis-server together, since both transports do their work in both.</p><table class='summary'>"
            f"<tr><th>payload</th><th>caller → service</th><th>{r} p50 µs</th><th>{f} p50 µs</th>"
            f"<th>{f} adds µs</th><th>{r} CPU µs/req</th><th>{f} CPU µs/req</th><th>{f} adds CPU µs/req</th>"
            f"<th>{f} throughput / {r} throughput</th></tr>{''.join(body)}</table>")


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1300px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
table.answer td{text-align:left;vertical-align:top;line-height:1.35}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right} th{background:#f4f4f4;position:sticky;top:0}
td:nth-child(-n+3),th:nth-child(-n+3),td:last-child{text-align:left} td:first-child{white-space:nowrap}
tr.gap td{color:#999} tr.failed td{background:#fde8e8} tr.bad td{background:#fff4e0} tr.floor td{color:#666;font-style:italic}
.ci{color:#888;font-size:11px}
.figs img{max-width:100%;border:1px solid #eee;margin:.5em 0} .note{background:#f6f8fa;padding:.6em 1em;border-left:3px solid #3572A5}
.warn{background:#fff4e0;padding:.6em 1em;border-left:3px solid #e36209}
.ci.unstable{color:#e36209;font-weight:600}
.warn details{margin-top:.4em}.warn table{font-size:.9em}
code,pre{background:#f6f8fa;font-size:12px} pre{padding:1em;overflow-x:auto}
.legend span{display:inline-block;margin-right:1.2em} .legend i{display:inline-block;width:12px;height:12px;margin-right:4px}
"""


CHARTS: dict[str, Callable[..., Figure | None]] = {
    "heatmap": chart_heatmap, "percentiles": chart_percentiles, "spectrum": chart_spectrum, "bars": chart_bars,
    "callers": chart_callers,
}
"""The charts a report draws per payload, by name (a chart process is told names, not functions)."""
_ROWS: list[Row] = []
"""A chart process's copy of the report's rows (`_chart_process`)."""
PARALLEL_FROM = 8
"""Fewer charts than this are drawn in the report's own process (a chart process takes a second to start)."""


def _chart_process(rows: list[Row]) -> None:
    global _ROWS
    _ROWS = rows


def _chart_png(task: tuple[str, tuple[Any, ...]]) -> str | None:
    name, args = task
    fig = CHARTS[name](_ROWS, *args)
    return None if fig is None else _png(fig)


def render_charts(rows: list[Row], tasks: list[tuple[str, tuple[Any, ...]]]) -> list[str | None]:
    """Each chart of `tasks` ((name in CHARTS, arguments after the rows)) as base64 PNG, or None when it
    has nothing to show; in order.

    Rendering (matplotlib's text layout, mostly) is most of a report's time, about a second a chart:
    with several cores and enough charts, one process per core draws them.
    """
    cores = min(len(os.sched_getaffinity(0)), 4)
    if cores < 2 or len(tasks) < PARALLEL_FROM:
        _chart_process(rows)
        return [_chart_png(t) for t in tasks]
    context = multiprocessing.get_context("spawn")  # not fork: the harness has threads
    with ProcessPoolExecutor(cores, mp_context=context, initializer=_chart_process, initargs=(rows,)) as pool:
        return list(pool.map(_chart_png, tasks))


def write_report(run: Path) -> Path:
    """Render results/<run>/index.html (and cells.csv) from the run's results."""
    doc, meta = load_run(run)
    rows = aggregate(run, doc.cells)
    write_csv(run, rows)
    payloads = payload_order(doc.cells)
    services = sorted({r.service for r in rows if not r.is_floor})
    floor_names = sorted({r.service for r in rows if r.is_floor})
    colours = colour_map(floor_names + services)
    charts: list[tuple[str, str, tuple[Any, ...]]] = []
    for payload in payloads:
        charts += [
            (payload, "heatmap", (payload, "p50", "p50 latency (µs)")),
            (payload, "heatmap", (payload, "service_us_per_req", "service CPU µs per request")),
            (payload, "percentiles", (payload, colours)),
            (payload, "spectrum", (payload, colours)),
            (payload, "bars", (payload, "throughput_rps", "throughput (requests/s)", colours)),
            (payload, "bars", (payload, "service_us_per_req", "service CPU µs per request", colours)),
        ]
        for t in TRANSPORTS:
            charts += [(payload, "callers", (payload, t, "p50", "p50 latency (µs)")),
                       (payload, "callers", (payload, t, "throughput_rps", "throughput (requests/s)")),
                       (payload, "callers", (payload, t, "loadgen_us_per_req", "caller CPU µs per request"))]
    pngs = render_charts(rows, [(name, args) for _, name, args in charts])
    sections = []
    for payload in payloads:
        imgs = "".join(f"<img alt='{html.escape(payload)} chart' src='data:image/png;base64,{png}'>"
                       for (p, _, _), png in zip(charts, pngs, strict=True) if p == payload and png is not None)
        sections.append(f"<h3>{html.escape(payload)}</h3><div class='figs'>{imgs}</div>")
    extra = []
    sweep_fig = chart_sweeps(rows, lambda r: _colour(colours, r), line_styles())
    curve_fig = chart_curve(rows, colours)
    if sweep_fig is not None:
        extra.append(sweep_table(rows) + f"<div class='figs'><img alt='sweeps' src='data:image/png;base64,{_png(sweep_fig)}'></div>")
    if curve_fig is not None:
        extra.append("<h2>Diff cost curve</h2><p>One user, closed loop, diffs of growing size: how each "
                     "implementation of difflib scales.</p>"
                     f"<div class='figs'><img alt='diff cost curve' src='data:image/png;base64,{_png(curve_fig)}'></div>")
    answer = []
    for payload in payloads:
        fig = chart_answer(rows, payload, lambda svc: colours.get(svc, FALLBACK_COLOUR))
        if fig is not None:
            answer.append(f"<div class='figs'><img alt='{html.escape(payload)}: what one call costs' "
                          f"src='data:image/png;base64,{_png(fig)}'></div>{answer_grid(rows, payload)}")
    legend = "".join(f"<span><i style='background:{colours[s]}'></i>{html.escape(s)}</span>" for s in services)
    legend += "".join(f"<span><i style='background:{colours[s]}'></i>{html.escape(s)} (floor)</span>"
                      for s in floor_names)
    placement = meta.get("placement", {})
    floor_languages = ", ".join(sorted({f.language for f in _floor_manifests()})) or "the harness's language"
    failed = [r for r in rows if r.status == "failed"]
    failures = "".join(f"<li><b>{html.escape(r.service)}/{r.transport}/{html.escape(r.payload)}</b> ({r.kind}): "
                       f"<pre>{html.escape(r.reason)}</pre></li>" for r in failed)
    runtimes = "".join(f"<li><b>{html.escape(n)}</b>: <code>{html.escape(str(m.get('runtime', ''))[:300])}</code>"
                       f"{' env <code>' + html.escape(json.dumps(m.get('env'))) + '</code>' if m.get('env') else ''}</li>"
                       for n, m in meta.get("services", {}).items())
    title = f"interop-bench run {html.escape(doc.run or run.name)}"
    interrupted = "<p class='warn'><b>This run was interrupted</b>; the cells below are those that finished.</p>" \
        if doc.interrupted else ""
    warn_html = unstable_box(doc.cells)
    pp = doc.pingpong or {}
    pingpong = (f"A raw TCP ping-pong of 64 B between the same cores took p50 <b>{pp['latency_us']['p50']:,.0f} µs</b>, "
                f"p99 {pp['latency_us']['p99']:,.0f} µs ({pp['rounds']:,} rounds): no transport can be faster here."
                if pp.get("latency_us") else "")
    machine = meta.get("machine", {})
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{CSS}</style></head><body>
<h1>{title}</h1>
<p class="sub">scenario <b>{html.escape(doc.scenario)}</b> · {html.escape(meta.get('started', ''))} ·
commit <code>{html.escape(str(meta.get('git', {}).get('commit', ''))[:12])}</code>
{'(dirty)' if meta.get('git', {}).get('dirty') else ''} ·
{html.escape(str(machine.get('cpu_model', '')))}, {machine.get('cores', '?')} cores</p>
{interrupted}
<p class="note">Latency is each request's round trip measured by the harness in microseconds (HDR histograms,
3 significant digits), not Locust's millisecond-rounded statistics. Every reply was checked; a wrong reply
counts as <i>wrong</i>, not as a fast success. Service CPU µs/request is the CPU time of the service's whole
process tree during the measured window divided by the requests completed in it. These {machine.get('cores', '?')} cores
are shared by the load generator, the services and redis-server: placement (taskset -c) was
load generator <b>{html.escape(str(placement.get('loadgen')))}</b>, services <b>{html.escape(str(placement.get('services')))}</b>,
redis-server <b>{html.escape(str(placement.get('redis')))}</b>. A cell whose load generator used ≥ 90% of a core while the
service's side (the service and its redis-server) used less, or that fell behind its arrival schedule, is marked
client-bound: its throughput is the harness's limit, not the service's (both sides at ≥ 90% is the service's limit too).
The <i>floor</i> of each transport is the same client against a responder that does no work, written in
{html.escape(floor_languages)} (<code>harness/floor/</code>): a server in a runtime with cheaper I/O can come in under it. {pingpong}</p>
{warn_html}
<h2>What one call costs</h2>
{''.join(answer) or '<p>No closed-loop cell with a floor in this run: see the table below.</p>'}
<h2>Every cell</h2>
<p class="legend">{legend}</p>
{summary_table(rows, payloads)}
<p>Also as CSV: <a href="cells.csv">cells.csv</a>; raw histograms in <code>hist/</code>; service logs in <code>logs/</code>.</p>
{'<h2>Failed cells</h2><ul>' + failures + '</ul>' if failed else ''}
{open_table(rows)}
{framework_tables(rows)}
{''.join(extra)}
<h2>Charts</h2>
{''.join(sections)}
<h2>Provenance</h2>
<ul>{runtimes}</ul>
<details><summary>meta.json</summary><pre>{html.escape(json.dumps(meta, indent=1))}</pre></details>
</body></html>"""
    index = run / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
