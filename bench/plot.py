#!/usr/bin/python3
"""Draw recall@k against QPS from the JSON files written by bench/ann.py.

    /usr/bin/python3 bench/plot.py out.svg run1.json run2.json ...

One line per JSON file (one index configuration), one point per sweep setting
(ef_search, probes or rerank, written next to the point). x is recall@k, y is QPS on a
log scale. The output format follows the extension of the output file (.svg,
.png, .pdf).
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

PARAM_SHORT = {"hnsw.ef_search": "ef", "ivfflat.probes": "probes"}
INDEX_PARAM_SHORT = {"ef_construction": "efc"}


def load_run(path):
    """The parsed JSON of one ann.py run, with a clear error if it is not one."""
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read {path}: {e}")
    if not isinstance(run, dict) or "sweep" not in run or "dataset" not in run:
        raise SystemExit(f"error: {path} is not a bench/ann.py result file")
    return run


def run_label(run):
    """'sift-128 hnsw m=16 efc=64' style label of one run; runs that record the indexed
    type (ann.py --type/--quantize) add it: 'glove-100 hnsw halfvec m=16 efc=64',
    'fashion-mnist-784 hnsw binary+rerank m=16 efc=64'."""
    index = run["index"]
    params = " ".join(f"{INDEX_PARAM_SHORT.get(k, k)}={v}" for k, v in index["params"].items())
    label = f"{run['dataset']['name']} {index['type']}"
    if index.get("quantize"):
        label += f" {index['quantize']}+rerank"
    elif index.get("column_type"):
        label += f" {index['column_type']}"
    if index["type"] == "none":
        label += " (exact)"
    if index.get("force_index"):
        label += " (seqscan off)"
    return f"{label} {params}".strip()


def curve(run):
    """Points (recall, qps, setting label) of one run, in sweep order."""
    short = PARAM_SHORT.get(run["sweep"]["param"], run["sweep"]["param"])
    points = []
    for row in run["sweep"]["results"]:
        text = "exact" if row["value"] is None else f"{short}={row['value']}"
        points.append((row["recall"], row["qps"], text))
    return points


def plot(runs, output, title):
    """Draw all runs into one figure and save it."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ks = sorted({run["dataset"]["k"] for run in runs})
    for run in runs:
        points = curve(run)
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        line, = ax.plot(xs, ys, marker="o", markersize=4, label=run_label(run))
        for x, y, text in points:
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=line.get_color())
    ax.set_yscale("log")
    set_recall_limits(ax, [p[0] for run in runs for p in curve(run)])
    ax.set_xlabel("recall@" + "/".join(str(k) for k in ks))
    ax.set_ylabel("queries per second (log scale)")
    ax.set_title(title or default_title(runs))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def set_recall_limits(ax, recalls):
    """Room on the right for the labels of the points near recall 1."""
    low, high = min(recalls), max(recalls)
    span = max(high - low, 0.05)
    ax.set_xlim(low - 0.04 * span, high + 0.10 * span)


def default_title(runs):
    names = sorted({f"{r['dataset']['name']} ({r['dataset']['metric']}, "
                    f"N={r['dataset']['n']})" for r in runs})
    return "recall vs QPS: " + ", ".join(names)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Plot recall@k vs QPS from bench/ann.py JSON files.")
    p.add_argument("output", type=Path, help="image to write (.svg, .png or .pdf)")
    p.add_argument("runs", type=Path, nargs="+", help="JSON files written by bench/ann.py")
    p.add_argument("--title", help="plot title (default: the data sets)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    runs = [load_run(path) for path in args.runs]
    plot(runs, args.output, args.title)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
