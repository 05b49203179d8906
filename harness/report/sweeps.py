"""The rate sweeps of a run: latency against offered load, and each cell's maximum with its spread.

A sweep runs to the break (harness/run/scenario.py `sweep_rates`): its maximum is a true
maximum only when the objective broke while the caller kept up. A sweep that never broke, or
broke because its caller was saturated, is a lower bound, and every view here says so: "≥" in
the table and the CSV, hatched bars in the chart.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.results.aggregate import Row, sweep_text

LOWER_BOUND = ("client_bound", "not_broken")
"""Outcomes whose `max_sustainable_rps` is a lower bound, not a maximum."""


def sweep_rows(rows: list[Row]) -> list[Row]:
    """The rows of a run that are sweeps with at least one step."""
    return [r for r in rows if r.kind == "sweep" and r.steps]


def _last_offered(r: Row) -> float | None:
    return max((s.offered_rps or 0.0 for steps in r.rep_steps or [r.steps] for s in steps), default=None)


def result_text(r: Row) -> str:
    """The row's sweep result as a reader should quote it (see `harness.results.aggregate.sweep_text`)."""
    return sweep_text(r.sweep_outcome, r.max_sustainable_rps, _last_offered(r))


def chart_sweeps(rows: list[Row], colour: Callable[[Row], str], styles: dict[str, Any]) -> Figure | None:
    """p50 and p99 against offered load (every repetition), and the maximum of each cell with its spread."""
    data = sweep_rows(rows)
    if not data:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for r in data:
        reps = r.rep_steps or [r.steps]
        for k, steps in enumerate(reps):
            xs = [s.offered_rps for s in steps]
            for ax, p in zip(axes[:2], ("p50", "p99"), strict=True):
                ax.plot(xs, [s.latency_us.get(p) for s in steps], marker="o", markersize=3, color=colour(r),
                        linestyle=styles.get(r.transport, "-"), alpha=1.0 if k == 0 else 0.45,
                        label=f"{r.caller}→{r.service}/{r.transport}/{r.payload}" if k == 0 else None)
    slo = (data[0].slo or {}).get("p99_us", 0.0)
    axes[1].axhline(slo, color="red", linestyle="dotted", linewidth=1, label=f"objective p99 ≤ {slo:,.0f} µs")
    for ax, p in zip(axes[:2], ("p50", "p99"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered load (requests/s, log scale)")
        ax.set_ylabel(f"{p} latency from intended send (µs, log)")
        ax.grid(which="both", alpha=0.3)
        ax.set_title(f"rate sweep: {p} against offered load (faint: other repetitions)", fontsize=10)
    axes[1].legend(fontsize=7)
    _chart_maxima(axes[2], data, colour)
    return fig


def _chart_maxima(ax: Any, data: list[Row], colour: Callable[[Row], str]) -> None:
    labels, values, lows, highs = [], [], [], []
    for r in data:
        spread = r.max_sustainable_reps or {}
        v = r.max_sustainable_rps or 0.0
        labels.append(f"{r.caller}→{r.service}\n{r.transport}")
        values.append(v)
        lows.append(max(v - spread.get("min", v), 0.0))
        highs.append(max(spread.get("max", v) - v, 0.0))
    bars = ax.barh(range(len(data)), values, xerr=[lows, highs], color=[colour(r) for r in data], capsize=3)
    for b, r in zip(bars, data, strict=True):
        bound = r.sweep_outcome in LOWER_BOUND
        if bound:
            b.set_hatch("///")
            b.set_edgecolor("white")
        ax.annotate(("≥ " if bound else "") + f"{r.max_sustainable_rps or 0:,.0f}", (b.get_width(), b.get_y() + 0.4),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(data)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("max sustainable requests/s (median; bars: min..max of repetitions)")
    ax.set_title("the maximum (hatched, ≥: a lower bound)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def sweep_table(rows: list[Row]) -> str:
    """Rate sweeps: each cell's maximum sustainable throughput, or the lower bound it reached, with its spread."""
    data = sweep_rows(rows)
    if not data:
        return ""
    body = []
    for r in data:
        steps = " → ".join(f"{s.offered_rps or 0:,.0f}{'' if s.meets_slo else '✗'}" for s in r.steps)
        spread = r.max_sustainable_reps or {}
        reps = (f"{spread['min']:,.0f}..{spread['max']:,.0f} over {spread['n']}"
                if spread.get("n", 1) > 1 else "1 run")
        note = {"client_bound": "<b>lower bound</b>: the caller was client-bound (" +
                html.escape(r.client_bound_reason or "saturated") + ") before the objective broke",
                "not_broken": "<b>lower bound</b>: every offered rate passed; the sweep's top rate is not the "
                              "service's limit",
                "broken": f"broke at {_fmt(r.broke_at_rps)} offered"}.get(r.sweep_outcome or "", "")
        body.append(f"<tr><td>{html.escape(r.payload)}</td><td>{html.escape(r.caller)} → {html.escape(r.service)}</td>"
                    f"<td>{r.transport}</td><td>{html.escape(result_text(r))}</td><td>{reps}</td>"
                    f"<td>{steps}</td><td>{note}</td></tr>")
    slo = data[0].slo or {}
    return (f"<h2>Rate sweeps</h2><p>Offered load (open loop, Poisson arrivals) stepped up, past the listed rates "
            f"by doubling, until a step breaks the objective: p99 (from the intended send) ≤ {slo['p99_us']:,.0f} µs, "
            f"errors ≤ {slo['max_error_rate']:.0%}, and at least 90% of the requests the arrival schedule issued "
            "answered in the step. ✗ marks a step that broke it. A maximum is the best passing step's throughput "
            "(the median over repetitions); it is marked ≥, a lower bound, when the caller rather than the "
            "service ran out first, or when nothing broke.</p><table class='summary'><tr><th>payload</th>"
            "<th>caller → service</th><th>transport</th><th>max sustainable</th><th>spread</th>"
            f"<th>steps of the median run (offered req/s)</th><th>notes</th></tr>{''.join(body)}</table>")
