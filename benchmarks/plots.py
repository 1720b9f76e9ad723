"""Objective-versus-time figures of the sksvm solvers, one per data set."""

import os

import numpy as np

from config import TARGETS
from report import best_objective, best_squared_objective, diverged

SOLVER_COLORS = dict(lbfgs="C0", subgradient="C1", dual_cd="C2", newton="C3")
#: Smallest relative suboptimality shown (log scale).
FLOOR = 1e-7


def plot_dataset(name, data, out_dir):
    """Relative suboptimality against time, evaluations (lbfgs) and epochs
    (subgradient); mlpack's final points for reference.

    Parameters
    ----------
    name : str
        Data set name.
    data : dict
        ``meta`` and ``models`` of the data set.
    out_dir : str
        Folder of ``objective_vs_time_<name>.png``.

    Returns
    -------
    str or None
        The file written; None when no model has a usable objective.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = data["models"]
    best, _ = best_objective(models)
    best_sq = best_squared_objective(models)
    if not best:
        return None
    fig, (by_time, by_evaluation, by_epoch) = plt.subplots(1, 3, figsize=(16, 4.8))
    for m in models:
        if m.get("status") != "ok" or not m.get("history") or m["key"] == "default":
            continue
        solver = m["params"].get("solver", "lbfgs")
        squared = m["params"].get("loss") == "squared_hinge"
        reference = best_sq if squared else best
        if not reference or diverged(m.get("J_own")):
            continue
        history = m["history"]
        seconds = np.array([h["time"] for h in history])
        relative = np.clip(np.array([h["objective"] for h in history]) / reference - 1,
                           FLOOR, 1e3)
        style = "--" if squared else "-"
        label = f"{solver} {'squared hinge' if squared else 'hinge'}"
        by_time.loglog(np.maximum(seconds, 1e-3), relative, style,
                       color=SOLVER_COLORS[solver], label=label)
        if solver == "lbfgs" and not squared:
            evaluations = np.array([h["n_evaluations"] for h in history])
            gap = np.array([h.get("gap", np.nan) for h in history], dtype=float)
            by_evaluation.semilogy(evaluations, relative, "-", color="C0",
                                   label="lbfgs: J/J_best - 1")
            by_evaluation.semilogy(evaluations, np.clip(gap, FLOOR, 1e3), ":",
                                   color="C0", label="lbfgs: certified relative gap")
        if solver == "subgradient":
            by_epoch.semilogy(np.arange(1, len(relative) + 1), relative, style,
                              color="C1", label=label)
    for m in models:
        if m["library"] == "mlpack" and m.get("status") == "ok" and "J" in m:
            by_time.plot(m["time"], max(m["J"] / best - 1, FLOOR),
                         "s" if "lbfgs" in m["key"] else "^", color="C3",
                         label=m["label"] + " (final)")
    by_time.set_xlabel("fit time (s)")
    by_time.set_ylabel("J / J_best - 1 (relative suboptimality)")
    by_time.set_title(f"{name}: objective vs time (no intercept)")
    by_evaluation.set_xlabel("loss_gradient evaluations")
    by_evaluation.axhline(TARGETS["lbfgs_gap"], color="grey", lw=0.8)
    by_evaluation.set_title("lbfgs: objective and gap vs evaluations")
    by_epoch.set_xlabel("epoch")
    by_epoch.axhline(TARGETS["subgradient_objective_ratio"] - 1, color="grey",
                     lw=0.8)
    by_epoch.set_title("subgradient (bs=1): averaged iterate vs epoch")
    for ax in (by_time, by_evaluation, by_epoch):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, f"objective_vs_time_{name}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
