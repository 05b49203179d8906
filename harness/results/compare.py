"""Per-cell changes between two runs: p50, p99, throughput and service CPU per request.

A change is called real only when it is larger than the noise: the 95% bootstrap confidence
intervals of the two runs' medians (over their repetitions) do not overlap, and the change
exceeds `NOISE_FLOOR_PCT`. A cell measured once in either run has no spread to go by; its
noise is taken as `SINGLE_RUN_NOISE_PCT`, and the output says so.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results.noise import bootstrap_ci
from harness.results.schema import Cell, Run, load_run

NOISE_FLOOR_PCT = 10.0  # run-to-run drift on a shared 2-core VM exceeds the repetitions spread
SINGLE_RUN_NOISE_PCT = 15.0
METRICS = (("p50", "p50 µs", True), ("p99", "p99 µs", True), ("throughput_rps", "req/s", False),
           ("service_us_per_req", "CPU µs/req", True))

Key = tuple[str, str, str, str, str]
"""caller, service, transport, payload, kind."""


@dataclass
class Change:
    """One metric of one cell, A against B."""

    cell: Key
    metric: str
    a: float
    b: float
    pct: float
    noise_pct: float
    real: bool
    worse: bool
    reps: tuple[int, int]

    @property
    def verdict(self) -> str:
        """'worse', 'better' or 'same' (within the noise)."""
        return ("worse" if self.worse else "better") if self.real else "same"


def per_cell(cells: list[Cell]) -> dict[Key, dict[str, list[float]]]:
    """Measured values of each metric per cell (caller, service, transport, payload, kind), one per repetition."""
    out: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        if not c.measured or c.kind == "sweep":
            continue
        out[c.key]["p50"].append(c.latency_us["p50"])
        out[c.key]["p99"].append(c.latency_us["p99"])
        out[c.key]["throughput_rps"].append(c.throughput_rps)
        if c.cpu is not None and c.cpu.service_us_per_req is not None:
            out[c.key]["service_us_per_req"].append(c.cpu.service_us_per_req)
    return out


def cell_name(k: Key) -> str:
    """A cell key as text: caller->service/transport/payload [kind]."""
    return f"{k[0]}->{'/'.join(k[1:4])}" + ("" if k[4] == "closed" else f" [{k[4]}]")


def diff_cells(a_cells: list[Cell], b_cells: list[Cell]) -> list[Change]:
    """Every metric of every cell the two runs share."""
    ca, cb = per_cell(a_cells), per_cell(b_cells)
    changes = []
    for k in sorted(set(ca) & set(cb)):
        for m, _label, lower_is_better in METRICS:
            va, vb = ca[k].get(m, []), cb[k].get(m, [])
            if not va or not vb:
                continue
            ma, mb = statistics.median(va), statistics.median(vb)
            pct = 100.0 * (mb - ma) / ma if ma else 0.0
            if len(va) >= 2 and len(vb) >= 2:
                lo_a, hi_a = bootstrap_ci(va)
                lo_b, hi_b = bootstrap_ci(vb)
                overlap = lo_b <= hi_a and lo_a <= hi_b
                half = max(hi_a - lo_a, hi_b - lo_b) / 2
                noise = max(NOISE_FLOOR_PCT, 100.0 * half / ma if ma else 0.0)
                real = not overlap and abs(pct) > NOISE_FLOOR_PCT
            else:
                noise = SINGLE_RUN_NOISE_PCT
                real = abs(pct) > noise
            worse = (pct > 0) == lower_is_better
            changes.append(Change(k, m, ma, mb, pct, noise, real, worse, (len(va), len(vb))))
    return changes


def print_table(changes: list[Change]) -> None:
    """The per-cell table on stdout."""
    cells = sorted({c.cell for c in changes})
    print(f"{'cell':52} " + " ".join(f"{label:>27}" for _, label, _ in METRICS))
    by = {(c.cell, c.metric): c for c in changes}
    for k in cells:
        cols = []
        for m, _, _ in METRICS:
            c = by.get((k, m))
            if c is None:
                cols.append(f"{'–':>27}")
                continue
            mark = {"worse": "WORSE", "better": "better", "same": ""}[c.verdict]
            cols.append(f"{c.a:>8.0f} -> {c.b:<8.0f}{c.pct:+5.0f}% {mark:<6}")
        print(f"{cell_name(k):52} " + " ".join(cols))


def chart(changes: list[Change], path: Path) -> Path:
    """Horizontal bars of % change per cell and metric, the noise band shaded, real changes coloured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({c.cell for c in changes})
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 0.32 * len(cells) + 1.6), sharey=True)
    by = {(c.cell, c.metric): c for c in changes}
    for ax, (m, label, _) in zip(axes, METRICS, strict=True):
        for i, k in enumerate(cells):
            c = by.get((k, m))
            if c is None:
                continue
            colour = {"worse": "#c0392b", "better": "#27ae60", "same": "#95a5a6"}[c.verdict]
            ax.barh(i, c.pct, color=colour)
            ax.plot([-c.noise_pct, c.noise_pct], [i, i], color="black", alpha=0.25, linewidth=6,
                    solid_capstyle="butt")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{label}: change B vs A (%)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(cells)), [cell_name(k) for k in cells], fontsize=7)
    fig.suptitle("red: worse beyond the noise · green: better beyond the noise · grey band: the noise", fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def compare_runs(run_a: Path, run_b: Path, fail_on_regression: float | None = None,
                 chart_path: Path | None = None) -> int:
    """Print the table and write the chart; return 1 when a cell got worse beyond the noise and the threshold."""
    a, _ = load_run(run_a)
    b, _ = load_run(run_b)
    for run, doc in ((run_a, a), (run_b, b)):
        if doc.migrated_from is not None:
            print(f"note: {run.name} was written with results schema {doc.migrated_from}; read as schema "
                  f"{doc.schema} (docs/results.md, \"Schema history\")")
    changes = diff_cells(a.cells, b.cells)
    if not changes:
        print("the two runs have no measured cell in common")
        return 1
    print(f"A = {run_a}\nB = {run_b}\n")
    print_table(changes)
    single = [c for c in changes if min(c.reps) < 2]
    if single:
        print(f"\nnote: {len({c.cell for c in single})} cell(s) were measured once in a run; their noise is taken "
              f"as ±{SINGLE_RUN_NOISE_PCT:.0f}%. Set load.repetitions = 3 or more for a verdict based on the spread.")
    real = [c for c in changes if c.real]
    print(f"\n{len(real)} change(s) beyond the noise out of {len(changes)} compared "
          f"({sum(c.worse for c in real)} worse, {sum(not c.worse for c in real)} better)")
    out = chart(changes, chart_path or (run_b / f"compare-{run_a.name}.png"))
    print(f"chart: {out}")
    if fail_on_regression is not None:
        bad = [c for c in real if c.worse and abs(c.pct) > fail_on_regression]
        if bad:
            print(f"\nregressions beyond --fail-on-regression {fail_on_regression:g}%:")
            for c in bad:
                print(f"  {cell_name(c.cell)} {c.metric} {c.pct:+.1f}% (noise ±{c.noise_pct:.1f}%)")
            return 1
    return 0


def write_compare_report(run_a: Path, run_b: Path) -> Path:
    """<run B>/compare-<run A>.html: the changes marked, the chart, and both runs' summaries side by side."""
    import base64
    import html

    from harness.report.page import CSS, summary_table
    from harness.results.aggregate import aggregate, payload_order

    a, meta_a = load_run(run_a)
    b, meta_b = load_run(run_b)
    changes = diff_cells(a.cells, b.cells)
    png = chart(changes, run_b / f"compare-{run_a.name}.png") if changes else None
    rows = []
    for c in sorted(changes, key=lambda c: (c.cell, c.metric)):
        cls = {"worse": "failed", "better": "better", "same": ""}[c.verdict]
        rows.append(f"<tr class='{cls}'><td>{html.escape(cell_name(c.cell))}</td><td>{c.metric}</td><td>{c.a:,.1f}</td>"
                    f"<td>{c.b:,.1f}</td><td>{c.pct:+.1f}%</td><td>±{c.noise_pct:.1f}%</td>"
                    f"<td>{c.reps[0]} / {c.reps[1]}</td><td><b>{c.verdict}</b></td></tr>")
    img = f"<img src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>" if png else ""

    def side(run: Path, doc: Run, meta: dict[str, Any]) -> str:
        commit = str(meta.get("git", {}).get("commit", ""))[:12]
        return (f"<div><h3>{html.escape(run.name)}</h3><p>commit <code>{html.escape(commit)}</code>, scenario "
                f"{html.escape(doc.scenario)}</p>"
                f"{summary_table(aggregate(run, doc.cells), payload_order(doc.cells))}</div>")

    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>compare {html.escape(run_a.name)} vs {html.escape(run_b.name)}</title>
<style>{CSS} tr.better td{{background:#e6f4ea}} .sides{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}
.sides table{{font-size:11px}}</style></head><body>
<h1>{html.escape(run_b.name)} (B) against {html.escape(run_a.name)} (A)</h1>
<p class="note">A change is marked only when it is larger than the noise: the 95% bootstrap confidence intervals of
the two runs' medians over their repetitions do not overlap and the change exceeds {NOISE_FLOOR_PCT:.0f}%. A cell
measured once in a run has no spread to go by; its noise is taken as ±{SINGLE_RUN_NOISE_PCT:.0f}%.</p>
<h2>Changes</h2>
<table class="summary"><tr><th>cell</th><th>metric</th><th>A</th><th>B</th><th>change</th><th>noise</th>
<th>repetitions A / B</th><th>verdict</th></tr>{''.join(rows)}</table>
<div class="figs">{img}</div>
<h2>Side by side</h2><div class="sides">{side(run_a, a, meta_a)}{side(run_b, b, meta_b)}</div>
</body></html>"""
    out = run_b / f"compare-{run_a.name}.html"
    out.write_text(page, encoding="utf-8")
    return out
