#!/usr/bin/python3
"""bench/figures.py: draws the figures of one bench/compare run as SVG.

bench/compare writes figures.json beside its summary.md and calls draw() on it; this
file can also be run alone on a run's figures.json:
  bench/figures.py build/bench-results/figures.json [OUT_DIR]

Two figures (matplotlib, Debian's python3-matplotlib; `scripts/setup release` installs it):
  overhead.svg        every case's ratio over the same case bare (1 = costs nothing), for
                      bindguard and, where the run measured them, the peers beside it: the
                      empty preload library (the floor of any preload library), the minimal
                      reference rewriter, the kernel twin; the case's A/A noise (the same
                      measurement with nothing to tell apart) as a grey band around 1.
  startup-policy.svg  the start-up a preload library adds to a do-nothing program, against
                      the size of the policy file (0 to 10,000 rules), for bindguard and the
                      empty library.
"""

import json
import os
import sys

# One colour per side, the same in both figures.
SIDES = ("bindguard", "empty library", "reference rewriter", "kernel twin")
COLOURS = {"bindguard": "#1f5fa8", "empty library": "#9a9a9a", "reference rewriter": "#e08a1e",
           "kernel twin": "#2a9d55"}


def _pyplot():
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    # Text stays text in the SVG (smaller files, searchable); a fixed hash salt and no date
    # keep a figure byte-identical when its numbers are.
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "bindguard", "font.size": 9})
    return plt


def _save(fig, path):
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})


def overhead(data, path):
    plt = _pyplot()
    # compile/* times `bindguard compile` itself, not a cost the library adds to a program.
    rows = [row for row in data["overhead"] if any(row["sides"].get(s) for s in SIDES)
            and not row["case"].startswith("compile/")]
    if not rows:
        return None
    height = 0.8 / max(1, max(sum(1 for s in SIDES if row["sides"].get(s)) for row in rows))
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6))
    labels = []
    drawn = set()
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        labels.append((y, row["case"]))
        if row.get("noise"):
            ax.fill_betweenx([y - 0.45, y + 0.45], 1 - row["noise"], 1 + row["noise"], color="#dddddd", lw=0,
                             label="A/A noise" if "noise" not in drawn else None)
            drawn.add("noise")
        present = [s for s in SIDES if row["sides"].get(s)]
        for j, side in enumerate(present):
            offset = (j - (len(present) - 1) / 2) * height
            value = row["sides"][side]
            ax.barh(y + offset, value - 1, left=1, height=height * 0.9, color=COLOURS[side],
                    label=side if side not in drawn else None)
            drawn.add(side)
            ax.text(max(value, 1) + 0.004, y + offset, f"{value:.3f}", va="center", fontsize=7)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_yticks([y for y, _ in labels], [label for _, label in labels])
    ax.set_xlabel("time with the library (or peer) / time bare, same round (1 = no cost)")
    right = max(max(row["sides"].get(s) or 1 for s in SIDES) for row in rows)
    left = min(min(row["sides"].get(s) or 1 for s in SIDES) for row in rows)
    ax.set_xlim(min(0.9, left - 0.02), right + 0.12)
    ax.set_title(f"What each case costs, side by side in one run\n{data['machine']}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    _save(fig, path)
    plt.close(fig)
    return path


def startup_policy(data, path):
    plt = _pyplot()
    points = data.get("startup_policy") or []
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    rules = [p["rules"] for p in points]
    for side, key in (("bindguard", "bindguard_added_ns"), ("empty library", "empty_added_ns")):
        values = [(p["rules"], p[key] / 1e3) for p in points if p.get(key) is not None]
        if values:
            ax.plot([r for r, _ in values], [v for _, v in values], marker="o", color=COLOURS[side], label=side)
            for r, v in values:
                ax.annotate(f"{v:.0f}", (r, v), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(rules, [f"{r:,}" for r in rules])
    lowest = min((p[key] / 1e3 for p in points for key in ("bindguard_added_ns", "empty_added_ns")
                  if p.get(key) is not None), default=0)
    ax.set_ylim(bottom=min(0, lowest * 1.2))
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("rules in the policy file (compiled image)")
    ax.set_ylabel("start-up added to a do-nothing program (µs)")
    ax.set_title(f"Start-up against policy size\n{data['machine']}", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return path


def draw(data, out_dir):
    """Writes the figures into out_dir; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = [overhead(data, os.path.join(out_dir, "overhead.svg")),
               startup_policy(data, os.path.join(out_dir, "startup-policy.svg"))]
    return [path for path in written if path]


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: bench/figures.py FIGURES.json [OUT_DIR]", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        data = json.load(f)
    out_dir = argv[2] if len(argv) == 3 else os.path.dirname(os.path.abspath(argv[1]))
    for path in draw(data, out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
