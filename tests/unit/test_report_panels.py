"""The report's per-cell charts draw one panel per caller, so a matrix of callers stays readable."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

from harness.report import page
from harness.results.aggregate import Row

COLOURS = {"floor": "#999999", "java": "#b07219", "python": "#3572A5"}


def _row(caller: str, service: str, transport: str, p50: float) -> Row:
    return Row(caller=caller, service=service, language="", transport=transport, payload="echo-64B", op="echo",
               kind="floor" if service == "floor" else "closed", reps=1, status="ok",
               latency_us={"p50": p50, "p90": 2 * p50, "p99": 3 * p50, "p99.9": 4 * p50},
               spectrum=[(0.0, p50), (50.0, p50), (99.0, 3 * p50)], throughput_rps=1000.0 / p50,
               service_us_per_req=p50 / 10)


def _rows(callers: list[str]) -> list[Row]:
    return [_row(c, s, t, 100.0 + i) for i, c in enumerate(callers)
            for s in ("floor", "java", "python") for t in ("http", "zmq")]


def _visible(fig: plt.Figure) -> list[plt.Axes]:
    return [a for a in fig.axes if a.get_visible()]


@pytest.mark.parametrize("callers", [["python"], ["go", "java", "python"]])
def test_bars_and_percentiles_have_a_panel_per_caller_with_its_cells(callers: list[str]) -> None:
    rows = _rows(callers)
    for fig in (page.chart_bars(rows, "echo-64B", "throughput_rps", "req/s", COLOURS),
                page.chart_percentiles(rows, "echo-64B", COLOURS)):
        assert fig is not None
        axes = _visible(fig)
        assert len(axes) == len(callers)
        for ax, caller in zip(axes, sorted(callers), strict=True):
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert labels == [f"{s}\n{t}" for s in ("floor", "java", "python") for t in ("http", "zmq")]
            assert ax.get_title(loc="left") == (f"called by {caller}" if len(callers) > 1 else "")
        plt.close(fig)


def test_a_bar_is_its_own_callers_value() -> None:
    rows = _rows(["go", "python"])
    fig = page.chart_bars(rows, "echo-64B", "throughput_rps", "req/s", COLOURS)
    assert fig is not None
    for ax, caller in zip(_visible(fig), ["go", "python"], strict=True):
        heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
        assert heights == pytest.approx([r.throughput_rps for r in rows if r.caller == caller])
    plt.close(fig)


def test_spectrum_has_a_panel_per_caller_and_one_legend_of_services_and_transports() -> None:
    rows = _rows(["erlang", "go", "python"])
    fig = page.chart_spectrum(rows, "echo-64B", COLOURS)
    assert fig is not None
    axes = _visible(fig)
    assert [a.get_title(loc="left") for a in axes] == ["called by erlang", "called by go", "called by python"]
    assert all(len(a.get_lines()) == 6 for a in axes)  # 3 services x 2 transports each
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["floor", "java", "python", "http", "zmq"]
    plt.close(fig)
