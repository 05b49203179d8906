"""results/<run>/cells.json -> matplotlib figures -> a self-contained results/<run>/index.html.

The answer comes first (a summary table of every cell), then the charts: latency
percentiles, throughput, service CPU per request, service x transport heatmaps and latency
percentile spectra (the HdrHistogram way). Images are embedded, so the page opens from the
file system. Each service keeps one colour in every chart.
"""

from __future__ import annotations

import csv
import html
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.services import TRANSPORTS  # noqa: E402
from harness.stats import b64, decode, merge, spectrum, summarize  # noqa: E402

PALETTE = ["#3572A5", "#b07219", "#a90533", "#2b7a3d", "#6f42c1", "#e36209", "#17a2b8", "#6c757d"]
KNOWN_COLOURS = {"python": "#3572A5", "java": "#b07219", "erlang": "#a90533"}


def load_run(run: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """cells.json and meta.json of a run."""
    cells_path = run / "cells.json"
    if not cells_path.exists():
        from harness.errors import HarnessError

        raise HarnessError(f"{run} has no cells.json: is it a results folder of `python -m harness bench`?")
    meta_path = run / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return json.loads(cells_path.read_text()), meta


def colour_map(services: list[str]) -> dict[str, str]:
    """A stable colour per service."""
    out: dict[str, str] = {}
    spare = [c for c in PALETTE if c not in KNOWN_COLOURS.values()]
    for s in services:
        out[s] = KNOWN_COLOURS.get(s) or spare[len([x for x in out if x not in KNOWN_COLOURS]) % len(spare)]
    return out


def aggregate(run: Path, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per service x transport x payload: repetitions merged (histograms) and medians (rates)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        groups[(c["service"], c["transport"], c["payload"])].append(c)
    rows = []
    for (svc, t, p), reps in groups.items():
        first = reps[0]
        row: dict[str, Any] = {"service": svc, "language": first.get("language", svc), "transport": t,
                               "payload": p, "op": first.get("op", ""), "reps": len(reps)}
        measured = [c for c in reps if c["status"] in ("ok", "errors")]
        if not measured:
            row["status"] = first["status"]
            row["reason"] = first.get("reason", "")
            rows.append(row)
            continue
        hists = [decode((run / c["histogram_file"]).read_text()) for c in measured if c.get("histogram_file")]
        merged = merge(hists) if hists else None
        row.update(
            status="errors" if any(c["status"] == "errors" for c in measured) else "ok",
            latency_us=summarize(merged) if merged else {},
            spectrum=spectrum(merged) if merged else [],
            throughput_rps=statistics.median(c["throughput_rps"] for c in measured),
            throughput_spread=[min(c["throughput_rps"] for c in measured), max(c["throughput_rps"] for c in measured)],
            cpu_us_per_req=_median([c["cpu"]["service_us_per_req"] for c in measured]),
            cpu_plus_redis_us_per_req=_median([c["cpu"]["service_plus_redis_us_per_req"] for c in measured]),
            loadgen_util=max(c["cpu"]["loadgen_util"] for c in measured),
            service_util=_median([c["cpu"]["service_util"] for c in measured]),
            requests=sum(c["requests"] for c in measured),
            errors=sum(c["errors"] for c in measured), wrong=sum(c["wrong"] for c in measured),
            client_bound=any(c.get("client_bound") for c in measured),
            error_samples=[s for c in measured for s in c.get("error_samples", [])][:3],
        )
        rows.append(row)
    order = {t: i for i, t in enumerate(TRANSPORTS)}
    rows.sort(key=lambda r: (r["payload"], order.get(r["transport"], 99), r["service"]))
    return rows


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return b64(buf.getvalue())


def _payloads(rows: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for r in rows:
        if r["payload"] not in seen:
            seen.append(r["payload"])
    return seen


def chart_percentiles(rows: list[dict[str, Any]], payload: str, colours: dict[str, str]) -> Figure | None:
    """Grouped bars: p50, p90, p99, p99.9 per cell of one payload, log scale."""
    data = [r for r in rows if r["payload"] == payload and r.get("latency_us")]
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(data) + 2), 3.6))
    pcts = ["p50", "p90", "p99", "p99.9"]
    width = 0.2
    for i, r in enumerate(data):
        for k, p in enumerate(pcts):
            ax.bar(i + (k - 1.5) * width, r["latency_us"][p], width, color=colours[r["service"]],
                   alpha=1.0 - 0.2 * k, edgecolor="white")
    ax.set_xticks(range(len(data)), [f"{r['service']}\n{r['transport']}" for r in data], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency (µs, log scale)")
    ax.set_title(f"{payload}: latency p50 / p90 / p99 / p99.9 (darkest = p50)")
    ax.grid(axis="y", which="both", alpha=0.3)
    return fig


def chart_bars(rows: list[dict[str, Any]], payload: str, key: str, label: str, colours: dict[str, str],
               log: bool = False) -> Figure | None:
    """One bar per cell of one payload for a scalar `key`."""
    data = [r for r in rows if r["payload"] == payload and r.get(key) is not None]
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(data) + 2), 3.2))
    values = [r[key] for r in data]
    bars = ax.bar(range(len(data)), values, color=[colours[r["service"]] for r in data])
    for b, r in zip(bars, data, strict=True):
        mark = " *" if r.get("client_bound") else ""
        ax.annotate(f"{r[key]:,.0f}{mark}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(range(len(data)), [f"{r['service']}\n{r['transport']}" for r in data], fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(label)
    ax.set_title(f"{payload}: {label}" + ("  (* client-bound)" if any(r.get("client_bound") for r in data) else ""))
    ax.grid(axis="y", alpha=0.3)
    return fig


def chart_heatmap(rows: list[dict[str, Any]], payload: str, metric: str, label: str) -> Figure | None:
    """Service x transport grid of one metric; gaps and failures shown as such."""
    data = [r for r in rows if r["payload"] == payload]
    services = sorted({r["service"] for r in data})
    transports = [t for t in TRANSPORTS if any(r["transport"] == t for r in data)]
    if not services or not transports:
        return None
    import numpy as np

    grid = np.full((len(services), len(transports)), np.nan)
    text = [["" for _ in transports] for _ in services]
    for r in data:
        i, j = services.index(r["service"]), transports.index(r["transport"])
        value = r.get("latency_us", {}).get(metric) if metric.startswith("p") else r.get(metric)
        if value is None:
            text[i][j] = "gap" if r["status"] == "gap" else "failed"
        else:
            grid[i, j] = value
            text[i][j] = f"{value:,.0f}"
    fig, ax = plt.subplots(figsize=(1.4 * len(transports) + 2, 0.6 * len(services) + 1.4))
    masked = np.ma.masked_invalid(grid)
    cmap = plt.get_cmap("viridis_r").copy()
    cmap.set_bad("#eeeeee")
    from matplotlib.colors import LogNorm

    finite = grid[np.isfinite(grid)]
    norm = LogNorm(vmin=max(finite.min(), 1e-3), vmax=max(finite.max(), 1e-3)) if finite.size and finite.min() > 0 else None
    im = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    for i in range(len(services)):
        for j in range(len(transports)):
            v = grid[i, j]
            dark = np.isfinite(v) and norm is not None and norm(v) > 0.5
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(transports)), transports)
    ax.set_yticks(range(len(services)), services)
    ax.set_title(f"{payload}: {label}")
    fig.colorbar(im, ax=ax, label=label)
    return fig


def chart_spectrum(rows: list[dict[str, Any]], payload: str, colours: dict[str, str]) -> Figure | None:
    """Latency by percentile, percentile axis log-scaled as 1/(1-p) (HdrHistogram's plot)."""
    data = [r for r in rows if r["payload"] == payload and r.get("spectrum")]
    if not data:
        return None
    styles = {t: s for t, s in zip(TRANSPORTS, ["-", "--", ":", "-.", (0, (5, 1))], strict=True)}
    fig, ax = plt.subplots(figsize=(8, 4))
    for r in data:
        xs = [1.0 / (1.0 - p / 100.0) if p < 100 else 1e6 for p, _ in r["spectrum"]]
        ys = [v for _, v in r["spectrum"]]
        ax.plot(xs, ys, color=colours[r["service"]], linestyle=styles.get(r["transport"], "-"),
                label=f"{r['service']}/{r['transport']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs, log scale)")
    ax.set_title(f"{payload}: latency percentile spectrum")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def write_csv(run: Path, rows: list[dict[str, Any]]) -> Path:
    """cells.csv: one line per service x transport x payload, for people who want their own plots."""
    path = run / "cells.csv"
    fields = ["service", "language", "transport", "payload", "op", "status", "reps", "requests", "errors", "wrong",
              "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "throughput_rps", "service_cpu_us_per_req",
              "service_plus_redis_cpu_us_per_req", "loadgen_util", "client_bound", "reason"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            lat = r.get("latency_us", {})
            w.writerow([r["service"], r["language"], r["transport"], r["payload"], r["op"], r["status"], r["reps"],
                        r.get("requests", ""), r.get("errors", ""), r.get("wrong", ""), lat.get("p50", ""),
                        lat.get("p90", ""), lat.get("p99", ""), lat.get("p99.9", ""), lat.get("max", ""),
                        r.get("throughput_rps", ""), r.get("cpu_us_per_req", ""),
                        r.get("cpu_plus_redis_us_per_req", ""), r.get("loadgen_util", ""),
                        r.get("client_bound", ""), r.get("reason", "")])
    return path


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None or v == "":
        return "–"
    return f"{v:,.{digits}f}" if isinstance(v, int | float) else html.escape(str(v))


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The answer first: one table row per cell."""
    head = ("<tr><th>payload</th><th>service</th><th>transport</th><th>p50 µs</th><th>p99 µs</th>"
            "<th>p99.9 µs</th><th>req/s</th><th>service CPU µs/req</th><th>+ redis CPU µs/req</th>"
            "<th>requests</th><th>errors</th><th>wrong</th><th>notes</th></tr>")
    body = []
    for r in rows:
        lat = r.get("latency_us", {})
        notes = []
        if r["status"] == "gap":
            notes.append("not served: " + html.escape(r.get("reason", "")))
        elif r["status"] == "failed":
            notes.append("FAILED: " + html.escape((r.get("reason") or "").splitlines()[0] if r.get("reason") else ""))
        if r.get("client_bound"):
            notes.append(f"client-bound (load generator at {r['loadgen_util']:.0%} of a core)")
        if r.get("errors") or r.get("wrong"):
            notes.append("errors: " + html.escape("; ".join(r.get("error_samples", []))[:200]))
        cls = {"gap": "gap", "failed": "failed"}.get(r["status"], "bad" if r.get("errors") or r.get("wrong") else "")
        redis_cpu = r.get("cpu_plus_redis_us_per_req") if r["transport"] in ("redis", "celery") else None
        body.append(
            f"<tr class='{cls}'><td>{html.escape(r['payload'])}</td><td>{html.escape(r['service'])}</td>"
            f"<td>{r['transport']}</td><td>{_fmt(lat.get('p50'))}</td><td>{_fmt(lat.get('p99'))}</td>"
            f"<td>{_fmt(lat.get('p99.9'))}</td><td>{_fmt(r.get('throughput_rps'))}</td>"
            f"<td>{_fmt(r.get('cpu_us_per_req'), 1)}</td><td>{_fmt(redis_cpu, 1)}</td>"
            f"<td>{_fmt(r.get('requests'))}</td><td>{_fmt(r.get('errors'))}</td><td>{_fmt(r.get('wrong'))}</td>"
            f"<td>{'; '.join(notes)}</td></tr>")
    return f"<table class='summary'>{head}{''.join(body)}</table>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1250px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right} th{background:#f4f4f4;position:sticky;top:0}
td:nth-child(-n+3),th:nth-child(-n+3),td:last-child{text-align:left}
tr.gap td{color:#999} tr.failed td{background:#fde8e8} tr.bad td{background:#fff4e0}
.figs img{max-width:100%;border:1px solid #eee;margin:.5em 0} .note{background:#f6f8fa;padding:.6em 1em;border-left:3px solid #3572A5}
code,pre{background:#f6f8fa;font-size:12px} pre{padding:1em;overflow-x:auto}
.legend span{display:inline-block;margin-right:1.2em} .legend i{display:inline-block;width:12px;height:12px;margin-right:4px}
"""


def write_report(run: Path) -> Path:
    """Render results/<run>/index.html (and cells.csv) from the run's results."""
    doc, meta = load_run(run)
    rows = aggregate(run, doc["cells"])
    write_csv(run, rows)
    services = sorted({r["service"] for r in rows})
    colours = colour_map(services)
    sections = []
    for payload in _payloads(rows):
        figs = [
            chart_heatmap(rows, payload, "p50", "p50 latency (µs)"),
            chart_heatmap(rows, payload, "cpu_us_per_req", "service CPU µs per request"),
            chart_percentiles(rows, payload, colours),
            chart_spectrum(rows, payload, colours),
            chart_bars(rows, payload, "throughput_rps", "throughput (requests/s)", colours),
            chart_bars(rows, payload, "cpu_us_per_req", "service CPU µs per request", colours),
        ]
        imgs = "".join(f"<img alt='{html.escape(payload)} chart' src='data:image/png;base64,{_png(f)}'>"
                       for f in figs if f is not None)
        sections.append(f"<h3>{html.escape(payload)}</h3><div class='figs'>{imgs}</div>")
    legend = "".join(f"<span><i style='background:{colours[s]}'></i>{html.escape(s)}</span>" for s in services)
    placement = meta.get("placement", {})
    failed = [r for r in rows if r["status"] == "failed"]
    failures = "".join(f"<li><b>{html.escape(r['service'])}/{r['transport']}/{html.escape(r['payload'])}</b>: "
                       f"<pre>{html.escape(r.get('reason', ''))}</pre></li>" for r in failed)
    services_meta = meta.get("services", {})
    runtimes = "".join(f"<li><b>{html.escape(n)}</b>: <code>{html.escape(str(m.get('runtime', ''))[:300])}</code></li>"
                       for n, m in services_meta.items())
    title = f"interop-bench run {html.escape(doc.get('run', run.name))}"
    interrupted = "<p class='note'><b>This run was interrupted</b>; the cells below are those that finished.</p>" \
        if doc.get("interrupted") else ""
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{CSS}</style></head><body>
<h1>{title}</h1>
<p class="sub">scenario <b>{html.escape(str(doc.get('scenario')))}</b> · {html.escape(meta.get('started', ''))} ·
commit <code>{html.escape(str(meta.get('git', {}).get('commit', ''))[:12])}</code>
{'(dirty)' if meta.get('git', {}).get('dirty') else ''} ·
{html.escape(str(meta.get('machine', {}).get('cpu_model', '')))}, {meta.get('machine', {}).get('cores', '?')} cores</p>
{interrupted}
<p class="note">Latency is each request's round trip measured by the harness in microseconds (HDR histograms,
3 significant digits), not Locust's millisecond-rounded statistics. Every reply was checked; a wrong reply
counts as <i>wrong</i>, not as a fast success. Service CPU µs/request is the CPU time of the service's whole
process tree during the measured window divided by the requests completed in it. These {meta.get('machine', {}).get('cores', '?')} cores
are shared by the load generator, the services and redis-server: placement (taskset -c) was
load generator <b>{html.escape(str(placement.get('loadgen')))}</b>, services <b>{html.escape(str(placement.get('services')))}</b>,
redis-server <b>{html.escape(str(placement.get('redis')))}</b>. A cell whose load generator used ≥ 90% of a core is
marked client-bound: its throughput is the harness's limit, not the service's.</p>
<h2>Summary</h2>
<p class="legend">{legend}</p>
{summary_table(rows)}
<p>Also as CSV: <a href="cells.csv">cells.csv</a>; raw histograms in <code>hist/</code>; service logs in <code>logs/</code>.</p>
{'<h2>Failed cells</h2><ul>' + failures + '</ul>' if failed else ''}
<h2>Charts</h2>
{''.join(sections)}
<h2>Provenance</h2>
<ul>{runtimes}</ul>
<details><summary>meta.json</summary><pre>{html.escape(json.dumps(meta, indent=1))}</pre></details>
</body></html>"""
    index = run / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
