"""The markdown report of a benchmark run (``results.md``).

Reads the run's results dict (as saved in ``raw/results.json``) and checks the
targets of ``config.TARGETS``.
"""

import math
import os

from config import LBFGS_CURVE_MARKS, SUBGRADIENT_EPOCHS, TARGETS

#: Objective values above this mark a diverged solver.
DIVERGED_ABOVE = 1e6


# ----------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------
def diverged(value):
    """Whether an objective value marks a diverged solver."""
    return value is not None and (not math.isfinite(value) or abs(value) > DIVERGED_ABOVE)


def format_objective(value):
    """An objective value, ``-`` when missing, or ``diverged (...)``."""
    if value is None:
        return "-"
    if diverged(value):
        return f"diverged ({value:.1e})"
    return f"{value:.6f}"


def format_number(value, spec=".3g", missing="-"):
    """``format(value, spec)``, or ``missing`` for None and non-finite floats."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def _milliseconds(entry):
    """A timing dict as "best (median)" in ms."""
    if not entry:
        return "-"
    return f"{1e3 * entry['min']:.1f} ({1e3 * entry['median']:.1f})"


def _met(flag):
    return "**met**" if flag else "**missed**"


def _verdict(values, passes):
    """Target verdict over several settings, e.g. all threads and one thread.

    Parameters
    ----------
    values : dict
        Setting name -> measured value.
    passes : callable
        Whether a value meets the target.
    """
    met = [name for name, value in values.items() if passes(value)]
    if len(met) == len(values):
        return "**met**"
    if not met:
        return "**missed**"
    return f"**met with {' and '.join(met)} only**"


# ----------------------------------------------------------------------------------
# Model records
# ----------------------------------------------------------------------------------
def _is_squared(m):
    return m.get("params", {}).get("loss") == "squared_hinge"


def _ok(m):
    return m is not None and m.get("status") == "ok"


def find_model(models, key):
    """The record of model ``key``, or None."""
    return next((m for m in models if m["key"] == key), None)


def best_objective(models):
    """Best hinge J and best certified lower bound among the no-intercept runs.

    Returns
    -------
    best : float or None
    lower : float or None
        ``J (1 - gap)`` of the certified (lbfgs, dual_cd) hinge runs.
    """
    values, lower = [], []
    for m in models:
        if not _ok(m) or "J" not in m or m["key"] == "default" or diverged(m["J"]):
            continue
        values.append(m["J"])
        params = m.get("params", {})
        if m["library"] == "sksvm" and not _is_squared(m) \
                and params.get("solver") != "subgradient" \
                and math.isfinite(m.get("duality_gap", float("nan"))):
            lower.append(m["J"] * (1 - m["duality_gap"]))
    return (min(values) if values else None), (max(lower) if lower else None)


def best_squared_objective(models):
    """Best squared-hinge objective of the squared-hinge runs, or None."""
    values = [m["J_own"] for m in models if _ok(m) and _is_squared(m)
              and "J_own" in m and not diverged(m["J_own"])]
    return min(values) if values else None


def _time_cell(m):
    status = m.get("status")
    if status == "timeout":
        return f"> {m['cap']:.0f} (cap)"
    if status == "n/a":
        return "n/a (dense input only)"
    if status == "error":
        return "error"
    return f"{m['time']:.2f}"


def _relative_cell(m, best, best_sq):
    if not _ok(m) or "J" not in m or m["key"] == "default":
        return "-"
    if diverged(m["J_own"]):
        return "diverged"
    if _is_squared(m):
        return f"{m['J_own'] / best_sq - 1:+.2e} (sq.)" if best_sq else "-"
    return f"{m['J'] / best - 1:+.2e}" if best else "-"


def _iterations_cell(m):
    if "n_evaluations" in m and m.get("params", {}).get("solver", "lbfgs") == "lbfgs":
        return f"{m.get('n_iter', '-')} it / {m['n_evaluations']} ev"
    return str(m["n_iter"]) if "n_iter" in m else "-"


def _peak_over_x(m, x_bytes):
    """1 + (peak RSS - RSS before) / bytes of X, or None."""
    if not (m.get("rss_peak") and x_bytes):
        return None
    return 1 + (m["rss_peak"] - m["rss_before"]) / x_bytes


def _model_row(m, best, best_sq, x_bytes):
    J = format_objective(m.get("J"))
    if _is_squared(m) and "J_own" in m:
        J += f" (sq. {format_objective(m['J_own'])})"
    return (f"| {m['label']} | {m['problem']} | {_time_cell(m)} "
            f"| {len(m.get('times', []))} | {format_number(m.get('accuracy'), '.4f')} "
            f"| {J} | {_relative_cell(m, best, best_sq)} "
            f"| {format_number(m.get('duality_gap'), '.1e')} | {_iterations_cell(m)} "
            f"| {format_number(_peak_over_x(m, x_bytes), '.2f')} |")


# ----------------------------------------------------------------------------------
# Targets per data set
# ----------------------------------------------------------------------------------
def _default_vs_linearsvc(default, svc):
    target = TARGETS["default_time_vs_linearsvc"]
    if _ok(default) and _ok(svc):
        ratio = default["time"] / svc["time"]
        return (f"- Default fit time / LinearSVC() time = {ratio:.3f} "
                f"(target <= {target:g}): {_met(ratio <= target)}; accuracy "
                f"{default['accuracy']:.4f} vs {svc['accuracy']:.4f}: "
                f"{_met(default['accuracy'] >= svc['accuracy'])}.")
    if _ok(default) and svc["status"] == "timeout":
        return (f"- Default fit time / LinearSVC() time < "
                f"{default['time'] / svc['cap']:.3f} (LinearSVC capped at "
                f"{svc['cap']:.0f} s; target <= {target:g}).")
    return (f"- Default fit: {default['status']}, LinearSVC(): {svc['status']}; "
            "ratio not available.")


def _lbfgs_line(lbfgs, best):
    target = TARGETS["lbfgs_gap"]
    gap = lbfgs.get("duality_gap", float("nan"))
    return (f"- lbfgs (fit_intercept=False): J {lbfgs['J']:.6f}, "
            f"{lbfgs['J'] / best - 1:+.1e} relative to the best J of the run, "
            f"certified gap {gap:.1e} (target {target:g}): {_met(gap <= target)}; "
            f"{lbfgs.get('n_evaluations', '-')} evaluations (prototype: "
            f"~{TARGETS['prototype_lbfgs_evaluations']}).")


def _mlpack_lines(models, mlpack, best):
    lbfgs = find_model(models, "lbfgs")
    lines = []
    if _ok(lbfgs) and best:
        lines.append(
            f"- vs mlpack lbfgs: time {lbfgs['time']:.2f} s vs {mlpack['time']:.2f} s "
            f"(ratio {lbfgs['time'] / mlpack['time']:.2f}, "
            f"{_met(lbfgs['time'] < mlpack['time'])}); J {lbfgs['J']:.6f} vs "
            f"{mlpack['J']:.6f} (mlpack {mlpack['J'] / best - 1:+.1%} above best; "
            f"{_met(lbfgs['J'] < mlpack['J'])}).")
    # Time for our solvers' J to fall below mlpack's final J (their curves).
    for key in ("dual_cd", "lbfgs"):
        ours = find_model(models, key)
        if not (_ok(ours) and ours.get("history")):
            continue
        hit = next((h for h in ours["history"] if h["objective"] <= mlpack["J"]), None)
        if hit:
            lines.append(
                f"- {key} (fit_intercept=False) reaches mlpack lbfgs's final J "
                f"({mlpack['J']:.6f}) after {hit['time']:.2f} s, "
                f"{hit['time'] / mlpack['time']:.2f} x mlpack's {mlpack['time']:.2f} s; "
                f"it ends at J {ours['J']:.6f} after {ours['time']:.2f} s.")
    return lines


def _subgradient_line(sub, best):
    target = TARGETS["subgradient_accuracy"]
    nan = float("nan")
    accuracy = max(sub.get("accuracy_epoch1", 0), sub.get("accuracy_epoch2", 0))
    line = (f"- subgradient (bs=1): accuracy {sub.get('accuracy_epoch1', nan):.4f}"
            f" after 1 epoch, {sub.get('accuracy_epoch2', nan):.4f} after 2 "
            f"(target >= {target:g}): {_met(accuracy >= target)}")
    if best:
        ratio, limit = sub["J"] / best, TARGETS["subgradient_objective_ratio"]
        line += (f"; J after {SUBGRADIENT_EPOCHS} epochs = {ratio:.4f} x best J "
                 f"(target <= {limit:g}): {_met(ratio <= limit)}")
    return line + "."


def _curve_lines(models, best):
    """The subgradient curve per epoch and lbfgs's progress marks."""
    lines = []
    sub = find_model(models, "subgradient")
    if _ok(sub) and sub.get("history") and best:
        curve = ", ".join(f"{h['objective'] / best:.4f}" for h in sub["history"])
        lines.append(f"- Subgradient curve, J(averaged iterate) / J_best per epoch: "
                     f"{curve}.")
    lbfgs = find_model(models, "lbfgs")
    if _ok(lbfgs) and lbfgs.get("history") and best:
        marks = []
        for threshold in LBFGS_CURVE_MARKS:
            hit = next((h for h in lbfgs["history"]
                        if h["objective"] / best - 1 <= threshold), None)
            if hit:
                marks.append(f"within {threshold:g} after {hit['n_evaluations']} "
                             f"evaluations ({hit['time']:.1f} s)")
        if marks:
            lines.append("- lbfgs J relative to J_best: " + "; ".join(marks) + ".")
    return lines


def dataset_targets(models):
    """Target lines of one data set (issue 7).

    Parameters
    ----------
    models : list of dict
        The data set's model records.

    Returns
    -------
    list of str
    """
    best, lower = best_objective(models)
    lines = []
    default, svc = find_model(models, "default"), find_model(models, "linearsvc")
    if default and svc:
        lines.append(_default_vs_linearsvc(default, svc))
    lbfgs = find_model(models, "lbfgs")
    if _ok(lbfgs) and best:
        lines.append(_lbfgs_line(lbfgs, best))
    mlpack = find_model(models, "mlpack_lbfgs")
    if _ok(mlpack) and "J" in mlpack:
        lines.extend(_mlpack_lines(models, mlpack, best))
    sub = find_model(models, "subgradient")
    if _ok(sub):
        lines.append(_subgradient_line(sub, best))
    if best and lower:
        lines.append(f"- Optimum bracket (no intercept): best certified lower bound "
                     f"{lower:.6f} <= J* <= {best:.6f} (width {(best - lower) / best:.1e}"
                     f" relative).")
    return lines + _curve_lines(models, best)


# ----------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------
def _header(results, command):
    env = results["environment"]
    kind = "quick" if results["quick"] else "full"
    pools = "; ".join(
        f"{p.get('internal_api')} {p.get('version')} {p.get('architecture', '')} "
        f"{p.get('num_threads')} threads ({p['library']})" for p in env["threadpools"])
    variables = (", ".join(f"{k}={v}" for k, v in env["env"].items())
                 or "no OPENBLAS_*/OMP_*/NUMBA_* variables set")
    return [
        "# sksvm benchmark results", "",
        f"Command: `{command}` ({kind} run), {results['started']} to "
        f"{results['finished']} ({results['total_seconds'] / 60:.1f} min).", "",
        f"Machine: {env.get('cpu', '?')}, {env['cpu_count']} cores, "
        f"{env['platform']}; load average at start {results['load_start']}, at end "
        f"{results['load_end']} (the machine is shared: times are indicative, ratios "
        f"within one run are the meaningful numbers). Python {env['python']}, numpy "
        f"{env['numpy']}, scipy {env['scipy']}, scikit-learn {env['sklearn']}, numba "
        f"{env['numba']} ({env['numba_threads']} threads), mlpack {env['mlpack']}, "
        f"sksvm {env.get('sksvm')} (git {env.get('git', '?')}).", "",
        f"BLAS/OpenMP (threadpoolctl): {pools}. Environment: {variables}.", "",
        "OpenBLAS caveat: OpenBLAS picks its GEMM kernels and blocking from the "
        "detected core type and cache sizes; under a hypervisor the detection can be "
        "wrong, and `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` change the numpy "
        "yardstick times. The values above are what this run used.", "",
    ]


def _dataset_section(name, data):
    meta = data.get("meta")
    if not meta:
        return [f"## {name}: not run ({data.get('error', 'no data')})", ""]
    models = data["models"]
    best, _ = best_objective(models)
    best_sq = best_squared_objective(models)
    density = f", density {meta['density']:.2%}" if meta.get("density") else ""
    if name == "fashion":
        svc_note = "LinearSVC: pixels / 255 and C = 1 (its fast setting). "
    else:
        svc_note = (f"LinearSVC: C_svc = 1 / (n C) = "
                    f"{1 / (meta['n_train'] * meta['C']):g}. ")
    lines = [
        f"## {name}: {meta['description']}", "",
        f"{meta['n_train']} training / {meta['n_test']} test samples, "
        f"{meta['n_features']} features, {meta['n_classes']} classes{density}, "
        f"{meta['x_bytes'] / 2**20:.0f} MiB; C = {meta['C']:g}, margin 1. "
        f"Warm fits: the worker compiled/loaded the kernels first "
        f"({meta['warm_up_seconds']:.1f} s).", "",
        "| model | problem | fit time (s) | runs | test acc. | J (hinge, no intercept) "
        "| J / J_best - 1 | certified gap | iterations | peak mem / X |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_model_row(m, best, best_sq, meta["x_bytes"]) for m in models]
    lines += [
        "",
        "Notes: *WW* = Weston-Watkins (our objective; sksvm's non-default rows and "
        "mlpack have no intercept). J is our hinge objective evaluated at the "
        "model's coefficients with `sksvm.loss_gradient`; for squared-hinge fits "
        "the squared-hinge objective is in brackets and the relative column "
        "compares it with the best squared-hinge J of the run. The default fit has "
        "an intercept, so its J is not comparable. LinearSVC and SGDClassifier "
        "solve other problems (no J). " + svc_note +
        "SGDClassifier: alpha = C, standardized data, its default max_iter/tol. "
        "Peak mem / X = 1 + (peak RSS during the fit - RSS before it) / size of "
        "X. Iterations: L-BFGS iterations / loss_gradient evaluations, or epochs "
        "(liblinear/SGD: max over classes).", "",
    ]
    lines += dataset_targets(models) + [""]
    if data.get("plot"):
        lines += [f"![objective vs time, {name}]({os.path.basename(data['plot'])})", ""]
    return lines


def _ratio_1thread(case):
    """loss_gradient with one numba thread / peer products with one BLAS thread."""
    peer = case.get("peer_products_1thread", case["peer_products"])["min"]
    return case["loss_gradient_1thread"]["min"] / peer


def _kernel_row(case):
    ev = case["loss_gradient"]["min"]
    row = case.get("row_sum", {}).get("min")
    extra = case.get("loss_gradient_extra_rss")
    return (f"| {case['case']} {case['shape'][0]} x {case['shape'][1]}, k={case['k']} "
            f"| {_milliseconds(case['loss_gradient'])} "
            f"| {_milliseconds(case['loss_gradient_smoothed'])} "
            f"| {_milliseconds(case['loss_gradient_1thread'])} "
            f"| {_milliseconds(case['peer_products'])} ({case['peer_label']}) "
            f"| {_milliseconds(case.get('peer_products_1thread'))} "
            f"| {_milliseconds(case.get('row_sum'))} "
            f"| {ev / case['peer_products']['min']:.2f} | {_ratio_1thread(case):.2f} "
            f"| {format_number(ev / row if row else None, '.1f')} "
            f"| {format_number(extra / case['x_bytes'] if extra is not None else None, '.2f')} |")


def _kernel_targets(cases):
    lines = []
    by_name = {c["case"]: c for c in cases}
    for case in cases:
        ev = case["loss_gradient"]["min"]
        ratios = {"all threads": ev / case["peer_products"]["min"],
                  "one thread each": _ratio_1thread(case)}
        if case["case"] == "dense float64":
            target = TARGETS["dense_kernel_vs_numpy"]
            lines.append(
                f"- Dense float64: loss_gradient / numpy = {ratios['all threads']:.2f} "
                f"with all threads, {ratios['one thread each']:.2f} with one thread "
                f"each (target <= {target:g}): "
                f"{_verdict(ratios, lambda r: r <= target)}; loss_gradient = "
                f"{ev / case['row_sum']['min']:.1f} x one row-sum pass over X.")
        elif case["case"] == "dense float32" and "dense float64" in by_name:
            f64 = by_name["dense float64"]
            target = TARGETS["float32_speedup"]
            speedups = {"all threads": f64["loss_gradient"]["min"] / ev,
                        "one thread": f64["loss_gradient_1thread"]["min"]
                        / case["loss_gradient_1thread"]["min"]}
            extra = case.get("loss_gradient_extra_rss", 0) / case["x_bytes"]
            lines.append(
                f"- Dense float32: speed-up over float64 = "
                f"{speedups['all threads']:.2f} x with all threads, "
                f"{speedups['one thread']:.2f} x with one (target >= {target:g}): "
                f"{_verdict(speedups, lambda s: s >= target)}; loss_gradient / numpy "
                f"(sgemm) = {ratios['all threads']:.2f}; extra RSS during one "
                f"evaluation = {extra:.2f} x X (an upcast copy would add 2 x X).")
        elif case["case"].startswith("CSR"):
            target = TARGETS["csr_kernel_vs_scipy"]
            lines.append(
                f"- CSR: loss_gradient / scipy = {ratios['all threads']:.2f} with all "
                f"threads, {ratios['one thread each']:.2f} with one (scipy is "
                f"single-threaded; target <= {target:g}): "
                f"{_verdict(ratios, lambda r: r <= target)}.")
    return lines


def _kernel_section(kernels):
    lines = ["## Kernel yardsticks (issue 7, section 1)", ""]
    status, payload = kernels
    if status != "ok":
        return lines + [f"Not measured: {status} {payload}", ""]
    lines += [
        "Times in ms: best of repeated calls after a warm-up (median in brackets; the "
        "machine is shared, so the best is the better estimate of the cost and the "
        "ratios use it). Random data; W gives scores of order 1, so most margins are "
        "active (the costly case). `loss_gradient` = one call of the public "
        "`sksvm.loss_gradient` (objective + gradient with the solvers' kernels, "
        "including its input checks), with all numba threads and with one. Peers: "
        "numpy/scipy products with OpenBLAS's default threads.", "",
        "| case | loss_gradient (hinge) | loss_gradient (smoothed) "
        "| loss_gradient, 1 thread | peer products | peer, 1 BLAS thread "
        "| row-sum pass | loss_gradient / peer | same, 1 thread each "
        "| loss_gradient / row sum | extra RSS / X |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_kernel_row(case) for case in payload["cases"]]
    return lines + [""] + _kernel_targets(payload["cases"]) + [""]


def _cold_start_section(cold):
    labels = list(cold)
    steps = next((run["steps"] for run in cold.values() if "steps" in run), [])
    lines = [
        "## First fit in a fresh process (numba compilation)", "",
        "A fresh interpreter imports sksvm and fits a 300 x 20, 3-class problem with "
        "each configuration in turn (`n_threads=1`, so that the fits themselves take "
        "milliseconds and the times are compilation or cache loading; \"same fit "
        "again\" is the warm reference); times in seconds. First with an empty "
        "`NUMBA_CACHE_DIR` (everything compiles), then again with the cache that run "
        "filled. The warm fits in the tables above exclude all of this.", "",
        "| step | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for i, (step, _) in enumerate(steps):
        cells = [f"{cold[label]['steps'][i][1]:.2f}" if "steps" in cold[label]
                 else "error" for label in labels]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| whole process (wall) | " + " | ".join(
        f"{cold[label]['process_wall']:.1f}" if "process_wall" in cold[label]
        else "error" for label in labels) + " |")
    return lines + [""]


def _memory_section(datasets):
    rows = []
    for name, data in datasets.items():
        meta = data.get("meta")
        for m in data.get("models", []) if meta else []:
            if m.get("rss_peak") and m["library"] == "sksvm":
                extra = m["rss_peak"] - m["rss_before"]
                rows.append(
                    f"| {name} | {m['label']} | {meta['x_bytes'] / 2**20:.0f} "
                    f"| {extra / 2**20:.0f} | {_peak_over_x(m, meta['x_bytes']):.2f} "
                    f"| {m['rss_peak'] / 2**20:.0f} |")
    if not rows:
        return []
    target = TARGETS["peak_memory_over_x"]
    return [
        "## Memory during fit (issue 7, section 4)", "",
        "Peak resident memory of the worker during each fit (`VmHWM` after "
        "resetting it with `/proc/self/clear_refs`), minus its resident memory just "
        "before the fit (X, the test set, the interpreter and the compiled kernels); "
        f"1 + that increase / size of X is the peak relative to X (target <= "
        f"{target:g}, i.e. at most {target - 1:g} x X of working memory).", "",
        "| data set | model | X (MiB) | increase during fit (MiB) | peak / X "
        "| process peak (MiB) |",
        "|---|---|---|---|---|---|",
    ] + rows + [""]


def write_report(results, out_dir, command):
    """Write ``results.md`` into ``out_dir``.

    Parameters
    ----------
    results : dict
        The run's results (see ``run.main``).
    out_dir : str
    command : str
        The command line, quoted in the header.

    Returns
    -------
    str
        The path written.
    """
    lines = _header(results, command)
    for name, data in results["datasets"].items():
        lines += _dataset_section(name, data)
    if results.get("kernels"):
        lines += _kernel_section(results["kernels"])
    if results.get("cold_start"):
        lines += _cold_start_section(results["cold_start"])
    lines += _memory_section(results["datasets"])
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
