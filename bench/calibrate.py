"""Fit the cost model's term weights on a calibration grid the sweep does not contain.

Every method's ``estimate(plan, rates)`` is a weighted sum of terms it can name
(calls, passes over memory, strided copies, GEMMs, vector multiply-adds; see
``handconv.methods.cost.weighted``). This script times every forward method
on a seeded grid of convolutions (seed and shapes apart from ``sweep.py``'s,
so the sweep stays a held-out check), then fits each method's
``COST_WEIGHTS`` by least squares on ``log(estimate / time)`` and prints
them, with the choice's regret before and after on the same grid.

Usage::

    python bench/calibrate.py                    # measure (~3 min on 2 cores) and fit
    python bench/calibrate.py --fit FILE.jsonl   # fit again from a saved measurement
    make bench BENCH_ARGS=--calibrate            # through conv_bench.py

Timings are the minimum of interleaved rounds (a stolen CPU only slows a
round). Run it on a quiet machine: the weights are what ``auto`` chooses by.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conv_bench import Canary, round_order  # noqa: E402

from handconv.conv import to_canonical
from handconv.methods import GENERAL, METHODS, candidates, cost, layout_seconds
from handconv.plan import make_plan

SEED = 99
CELLS = 240
ROUNDS = 5
C_IN = (1, 2, 3, 4, 8, 16, 32, 64, 128, 256)
C_OUT = (1, 2, 3, 4, 6, 8, 16, 32, 64, 128, 256)
SIZES = ((7, 7), (12, 12), (14, 14), (28, 28), (30, 40), (56, 56), (64, 48), (100, 75), (128, 128), (224, 224),
         (300, 200), (480, 640), (720, 1280))  # fmt: skip
#: Cells outside these bounds are drawn again (keeps a run to minutes).
MAX_MACS, MIN_MACS, MAX_BYTES = 4e8, 2e4, 64e6
#: A method whose first call takes this long while estimated 3x slower than the best is not timed further.
HOPELESS_S = 0.5
#: A cell counts when the canary GEMM ran at this fraction of its best before and after it.
CLEAN = 0.8
TRIES = 4
#: Share of cells drawn channels-first (NCHW memory: what im2col_nchw is for).
NCHW_SHARE = 0.25
RIDGE = 0.05  # pulls weights towards 1 where the grid says little about a term


#: A ladder of output-row widths (12 to 508 pixels) at a fixed ~1.5e8 multiply-adds per cell, for a few channel
#: counts. The drawn grid's narrow rows are mostly small calls, where every overhead looks alike; without this
#: ladder the fit charged ``planar`` 32 ns per vectorised loop where 14 ns was measured (2x its time on
#: narrow rows, 1.3-1.6x on 100-250-pixel rows: CNN layers went to ``im2col`` that ``planar`` ran faster).
LADDER_WIDTHS = (12, 28, 60, 124, 252, 508)
LADDER_CHANNELS = ((16, 16, 3), (3, 64, 5), (64, 32, 3), (8, 8, 11), (1, 32, 5))
LADDER_MACS = 1.5e8


def ladder_cells() -> list[tuple]:
    """One-image cells ``(1, H, W + K - 1, C_in, C_out, K, ...)`` whose output rows are ``LADDER_WIDTHS`` wide."""
    cells = []
    for ci, co, k in LADDER_CHANNELS:
        for width in LADDER_WIDTHS:
            height = max(8, round(LADDER_MACS / (width * ci * co * k * k)))
            cells.append((1, height + k - 1, width + k - 1, ci, co, k, 1, 1, "VALID", "float32", "NHWC"))
    return cells


def draw_cells(seed: int, count: int) -> list[tuple]:
    """``count`` seeded cells ``(N, H, W, C_in, C_out, K, stride, dilation, padding, dtype, data_format)``."""
    rng = np.random.default_rng(seed)
    layouts = np.random.default_rng(seed + 7)  # its own stream: the NHWC cells stay those of earlier grids
    cells: list[tuple] = []
    while len(cells) < count:
        n = int(rng.choice((1, 1, 2, 4, 8, 16, 32, 64)))
        h, w = SIZES[rng.integers(len(SIZES))]
        ci, co = int(rng.choice(C_IN)), int(rng.choice(C_OUT))
        k, s, d = int(rng.choice((1, 3, 3, 3, 5, 5, 7, 11))), int(rng.choice((1, 1, 2))), int(rng.choice((1, 1, 1, 2)))
        padding, dtype = (
            str(rng.choice(("SAME", "VALID"))),
            str(rng.choice(("float32", "float32", "float32", "float64"))),
        )
        cell = (n, h, w, ci, co, k, s, d, padding, dtype, "NCHW" if layouts.random() < NCHW_SHARE else "NHWC")
        try:
            plan = plan_of(cell)
        except ValueError:
            continue
        if plan.is_empty or not MIN_MACS <= plan.macs <= MAX_MACS or n * h * w * max(ci, co) * 8 > MAX_BYTES:
            continue
        cells.append(cell)
    return cells


def plan_of(cell):
    n, h, w, ci, co, k, s, d, padding, dtype, *layout = cell
    if layout == ["NCHW"]:
        return make_plan((n, ci, h, w), (k, k, ci, co), s, padding, "NCHW", d, np.dtype(dtype))
    return make_plan((n, h, w, ci), (k, k, ci, co), s, padding, dilations=d, dtype=np.dtype(dtype))


def timed_methods(plan) -> list[str]:
    """The forward methods ``auto`` may choose among (Winograd is opt-in: not calibrated here)."""
    return [name for name in candidates(plan, "accurate") if name not in GENERAL]


def measure(cells, out_path: Path, seed: int) -> None:
    """Time every candidate on every cell, again (up to ``TRIES``) while the canary says the CPU was taken."""
    rng = np.random.default_rng(seed + 1)
    canary = Canary()
    for _ in range(5):
        canary()
    for index, cell in enumerate(cells):
        for _ in range(TRIES):
            before = canary()
            record = measure_cell(cell, rng)
            after = canary()
            record["clean"] = min(before, after) >= CLEAN * canary.best
            if record["clean"]:
                break
        with open(out_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        fastest = min(record["seconds"], key=record["seconds"].get)
        print(
            f"{index + 1}/{len(cells)} {cell}: fastest {fastest}{'' if record['clean'] else ' (CPU taken)'}", flush=True
        )


def measure_cell(cell, rng) -> dict:
    """Minimum over ``ROUNDS`` interleaved rounds of each candidate's time on ``cell``."""
    plan = plan_of(cell)
    dtype = cell[9]
    # The canonical input the methods get: for NCHW cells a view of NCHW memory, as conv2d passes it.
    n, h, w, ci = cell[:4]
    user_shape = (n, ci, h, w) if plan.channels_first else (n, h, w, ci)
    x = to_canonical(rng.standard_normal(user_shape).astype(dtype), plan)
    f = rng.standard_normal(plan.filter_shape).astype(dtype)
    names = timed_methods(plan)
    estimates = {m: METHODS[m].estimate(plan, cost.REFERENCE_RATES) for m in names}
    best_estimate = min(estimates.values())
    times: dict[str, list[float]] = {}
    for name in names:
        start = time.perf_counter()
        METHODS[name].run(x, f, plan)
        first = time.perf_counter() - start
        if not (first > HOPELESS_S and estimates[name] > 3 * best_estimate):
            times[name] = []
    order = round_order({name: name for name in times}, short=0.002)
    for _ in range(ROUNDS):
        for name, pause in order:
            time.sleep(pause)  # after a GEMM: OpenBLAS's workers go to sleep first
            start = time.perf_counter()
            METHODS[name].run(x, f, plan)
            times[name].append(time.perf_counter() - start)
    return {"cell": list(cell), "seconds": {m: min(t) for m, t in times.items()}, "load": os.getloadavg()[0]}


def _module(name: str):
    return sys.modules[METHODS[name].estimate.__module__]


def _estimate_with(name: str, plan, weights: tuple[float, ...]) -> float:
    module = _module(name)
    saved = module.COST_WEIGHTS
    try:
        module.COST_WEIGHTS = weights
        return METHODS[name].estimate(plan, cost.REFERENCE_RATES)
    finally:
        module.COST_WEIGHTS = saved


def unweighted_seconds(name: str, plan) -> float:
    """The part of the estimate no weight scales (``planar``'s page faults of a buffer too large to keep)."""
    return _estimate_with(name, plan, tuple(0.0 for _ in _module(name).COST_WEIGHTS))


def terms(name: str, plan) -> np.ndarray:
    """The estimate's terms for ``plan``: with each unit weight vector in turn, less the unweighted part."""
    count = len(_module(name).COST_WEIGHTS)
    fixed = unweighted_seconds(name, plan)
    units = [tuple(1.0 if j == i else 0.0 for j in range(count)) for i in range(count)]
    return np.array([_estimate_with(name, plan, unit) - fixed for unit in units])


def copy_in_seconds(name: str, plan) -> float:
    """The NHWC copy of an NCHW input that ``run`` makes and its own estimate leaves to ``candidates``.

    The timed ``run`` includes it (it gets NCHW memory, as from ``conv2d``), so the fit adds it unweighted;
    left out, the NCHW cells read as underestimated and the fit inflated the weights every NHWC cell pays
    (``planar`` came out at up to 2x its time on NHWC CNN layers).
    """
    return layout_seconds(METHODS[name], plan, cost.REFERENCE_RATES)[0]


def copy_back_seconds(name: str, plan) -> float:
    """The copy back to NCHW that ``conv2d`` makes after a method returning NHWC memory (not in ``run``'s time)."""
    return layout_seconds(METHODS[name], plan, cost.REFERENCE_RATES)[1]


def fit(records) -> dict[str, tuple[float, ...]]:
    """Each method's weights: least squares on log(estimate / time), ridge towards 1."""
    from scipy.optimize import least_squares

    weights = {}
    names = sorted({m for r in records for m in r["seconds"]})
    for name in names:
        plans = [(plan_of(r["cell"]), r["seconds"][name]) for r in records if name in r["seconds"]]
        rows = [
            (terms(name, plan), copy_in_seconds(name, plan) + unweighted_seconds(name, plan), s) for plan, s in plans
        ]
        rows = [(t, c, s) for t, c, s in rows if np.all(np.isfinite(t)) and t.sum() > 0]
        if not rows:
            continue
        t_matrix = np.array([t for t, _, _ in rows])
        copies = np.array([c for _, c, _ in rows])
        log_seconds = np.log([s for _, _, s in rows])
        used = t_matrix.sum(axis=0) > 0

        def residuals(u, t_matrix=t_matrix, copies=copies, log_seconds=log_seconds, used=used):
            w = np.where(used, np.exp(u), 0.0)
            return np.concatenate([np.log(t_matrix @ w + copies) - log_seconds, RIDGE * u[used]])

        solution = least_squares(residuals, np.zeros(t_matrix.shape[1]))
        # A term the grid never exercises (a NumPy fallback when numba is installed) keeps its weight.
        current = _module(name).COST_WEIGHTS
        weights[name] = tuple(
            float(f"{w:.3g}") if used_term else old for w, used_term, old in zip(np.exp(solution.x), used, current)
        )
    return weights


def regret(records, show: int = 0) -> tuple[float, float, int]:
    """Geometric-mean and worst time of auto's pick over the fastest method; cells above 1.25x."""
    ratios, rows = [], []
    for r in records:
        plan = plan_of(r["cell"])
        # What conv2d takes: the timed run and, for NHWC results of an NCHW call, the copy back.
        seconds = {m: t + copy_back_seconds(m, plan) for m, t in r["seconds"].items()}
        estimators = {m: e for m, e in candidates(plan).items() if m in seconds}  # NCHW: + the copy back
        pick = cost.choose(plan, estimators, cost.REFERENCE_RATES)
        ratios.append(seconds[pick] / min(seconds.values()))
        rows.append((ratios[-1], r["cell"], pick, {m: round(t * 1e3, 3) for m, t in seconds.items()}))
    for ratio, cell, pick, ms in sorted(rows, key=lambda row: -row[0])[:show]:
        print(f"  {ratio:5.2f}x {cell} picks {pick}: ms {ms}")
    logs = np.log(ratios)
    return float(np.exp(logs.mean())), float(max(ratios)), int(sum(r > 1.25 for r in ratios))


def report(records, show: int = 0) -> None:
    before = regret(records)
    weights = fit(records)
    for name, w in weights.items():
        _module(name).COST_WEIGHTS = w
    after = regret(records, show)
    print(f"\nauto's pick / fastest method on {len(records)} cells:")
    print(f"  current weights: geomean {before[0]:.3f}, worst {before[1]:.2f}, {before[2]} above 1.25x")
    print(f"  fitted weights:  geomean {after[0]:.3f}, worst {after[1]:.2f}, {after[2]} above 1.25x")
    print("\nFitted COST_WEIGHTS (paste into each method module):")
    for name, w in weights.items():
        print(f"  {_module(name).__name__}.COST_WEIGHTS = {w}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, help="fit from a saved measurement (.jsonl) instead of measuring")
    parser.add_argument("--cells", type=int, default=CELLS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--show", type=int, default=0, metavar="N", help="list the N cells auto then picks worst")
    args = parser.parse_args(argv)
    if args.fit is None:
        out = Path(__file__).resolve().parent / "results" / f"calibrate-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        out.parent.mkdir(exist_ok=True)
        measure(draw_cells(args.seed, args.cells) + ladder_cells(), out, args.seed)
        print(f"measurements: {out}")
        args.fit = out
    records = [json.loads(line) for line in args.fit.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [r for r in records if r.get("clean", True)]
    report(records, args.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
