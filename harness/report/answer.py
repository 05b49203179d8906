"""The answer first: what one call costs, per language and transport, as a chart and one figure per cell.

For each payload, two panels side by side: the p50 latency a call adds above its transport's
floor (same caller, same run), and the service's CPU per request. One caller is used for the
whole chart so that the bars compare services, not callers: the cheapest caller that has a
floor on the transports (the lowest median floor p50). Below the chart, a service x transport
grid gives the same two figures per cell, plus the service's capacity per core, in words a
reader can quote.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.contract.transports import TRANSPORTS
from harness.results.aggregate import Row


def answer_caller(rows: list[Row]) -> str | None:
    """The caller the answer is drawn with: of those with floor cells, the one whose floors are fastest."""
    floors: dict[str, list[float]] = {}
    for r in rows:
        if r.is_floor and r.latency_us:
            floors.setdefault(r.caller, []).append(r.latency_us["p50"])
    if not floors:
        return None
    return min(floors, key=lambda c: (statistics.median(floors[c]), c))


def _points(rows: list[Row], payload: str, caller: str) -> tuple[dict[tuple[str, str], Row], dict[str, Row]]:
    cells = {(r.service, r.transport): r for r in rows
             if r.caller == caller and r.payload == payload and r.kind == "closed" and r.latency_us}
    floor_op = {r.op for r in cells.values()}
    fl = {r.transport: r for r in rows if r.is_floor and r.caller == caller and r.latency_us and r.op in floor_op}
    return cells, fl


def above_floor(r: Row, floor: Row | None) -> float | None:
    """p50 of `r` minus its transport's floor p50 (None without a floor); never below zero."""
    if floor is None or r.op != floor.op:
        return None
    return max(r.latency_us["p50"] - floor.latency_us["p50"], 0.0)


def chart_answer(rows: list[Row], payload: str, colour: Callable[[str], str]) -> Figure | None:
    """Latency above the floor and service CPU per request, grouped by transport, one bar per service."""
    caller = answer_caller(rows)
    if caller is None:
        return None
    cells, fl = _points(rows, payload, caller)
    services = sorted({s for s, _ in cells})
    transports = [t for t in TRANSPORTS if any(t == tt for _, tt in cells)]
    if not services or not transports:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.9))
    width = 0.8 / len(services)
    has_floor = any(above_floor(r, fl.get(r.transport)) is not None for r in cells.values())
    latency: tuple[str, Callable[[Row], float | None]] = (
        ("latency a call adds above the floor (p50, µs)", lambda r: above_floor(r, fl.get(r.transport)))
        if has_floor else ("p50 latency (µs; the floors answer echo only)", lambda r: r.latency_us["p50"]))
    panels = (latency, ("service CPU per request (µs)", lambda r: r.service_us_per_req))
    for ax, (label, value) in zip(axes, panels, strict=True):
        for k, svc in enumerate(services):
            for j, t in enumerate(transports):
                r = cells.get((svc, t))
                v = value(r) if r is not None else None
                x = j + (k - (len(services) - 1) / 2) * width
                if v is None:
                    ax.text(x, 0, "–", ha="center", va="bottom", fontsize=7, color="#999")
                    continue
                bar = ax.bar(x, max(v, 0.05), width * 0.92, color=colour(svc), label=svc if j == 0 else None)[0]
                mark = "*" if r is not None and r.client_bound else ""
                ax.annotate(f"{v:,.0f}{mark}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(range(len(transports)), transports)
        ax.set_yscale("log")
        ax.set_ylabel(label + " (log)", fontsize=9)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, -0.04))
    marked = any(r.client_bound for r in cells.values())
    fig.suptitle(f"{payload}: what one call costs (called by {caller}"
                 + ("; * the caller was client-bound)" if marked else ")"), fontsize=11)
    return fig


def answer_grid(rows: list[Row], payload: str) -> str:
    """Service x transport: the figures of one cell a reader can take away, in a sentence each."""
    caller = answer_caller(rows)
    if caller is None:
        return ""
    cells, fl = _points(rows, payload, caller)
    services = sorted({s for s, _ in cells})
    transports = [t for t in TRANSPORTS if any(t == tt for _, tt in cells)]
    if not cells:
        return ""
    head = "".join(f"<th>{t}</th>" for t in transports)
    body = []
    for svc in services:
        tds = []
        for t in transports:
            r = cells.get((svc, t))
            if r is None:
                tds.append("<td class='gap'>–</td>")
                continue
            add = above_floor(r, fl.get(t))
            cap = r.service_rps_per_core
            est = " (est.)" if r.client_bound else ""
            parts = [f"<b>+{add:,.0f} µs</b>" if add is not None else f"<b>{r.latency_us['p50']:,.0f} µs</b> p50",
                     f"{r.service_us_per_req:,.1f} µs CPU" if r.service_us_per_req is not None else "CPU –",
                     f"{cap / 1000:,.1f}k req/s per core{est}" if cap else ""]
            tds.append(f"<td>{'<br>'.join(p for p in parts if p)}</td>")
        body.append(f"<tr><td>{html.escape(svc)}</td>{''.join(tds)}</tr>")
    return (f"<table class='answer'><tr><th>{html.escape(payload)}</th>{head}</tr>{''.join(body)}</table>"
            f"<p class='sub'>Per cell: the p50 latency above the transport's floor, the service's CPU per "
            f"request, and its capacity (requests per CPU-second of the service; <i>est.</i> where the caller, "
            f"not the service, was the bottleneck, so the service ran below saturation). Called by "
            f"<b>{html.escape(caller)}</b>.</p>")
