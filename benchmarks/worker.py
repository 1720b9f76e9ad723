"""Worker processes: one per data set, fits under time caps.

Protocol: the parent starts a worker with a data set's name and spec; the worker
loads the data (generating it once into the run's cache), compiles the kernels on a
tiny slice and sends ``("ready", meta)``. It then answers each task
``{"key": model key, "evaluate": bool}`` with ``("ok", record)`` or
``("error", traceback)`` until it receives None. A fit that exceeds its cap is
abandoned by killing the worker; the next task starts a fresh one, which reloads the
data from the cache.
"""

import multiprocessing as mp
import time
import traceback

import numpy as np

from adapters import ADAPTERS, run_model
from benchmark_data import load_dataset
from config import MODELS
from report import format_number, format_objective

#: Seconds a worker may take to load its data and compile.
START_TIMEOUT = 3600

MODELS_BY_KEY = {spec.key: spec for spec in MODELS}


def _warm_up(arrays, meta):
    """Compile (or load from numba's cache) every kernel; returns the seconds."""
    start = time.perf_counter()
    for library, adapter in ADAPTERS.items():
        if adapter.available():
            adapter.warm_up(arrays, meta,
                            [spec for spec in MODELS if spec.library == library])
    return time.perf_counter() - start


def worker_main(conn, name, spec, cache_dir):
    """Entry point of a worker process (see the module docstring)."""
    try:
        arrays, meta = load_dataset(name, spec, cache_dir)
        meta["warm_up_seconds"] = _warm_up(arrays, meta)
        conn.send(("ready", meta))
    except Exception:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            conn.send(("ok", run_model(arrays, meta, MODELS_BY_KEY[task["key"]],
                                       task["evaluate"])))
        except Exception:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))


def _spawn(target, args):
    """Start ``target(child_connection, *args)`` in a spawned process."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    return process, parent


def _kill(process):
    if process.is_alive():
        process.kill()
    process.join()


class Worker:
    """A data set's worker process, restarted after a time-out.

    Parameters
    ----------
    name : str
        Data set name.
    spec : dict
        Its entry of ``config.DATASET_SPECS``.
    cache_dir : str
        The run's data cache.
    log : callable
        Progress messages.
    """

    def __init__(self, name, spec, cache_dir, log):
        self.name, self.spec, self.cache_dir, self.log = name, spec, cache_dir, log
        self.process = self.conn = None
        self.meta = None

    def start(self):
        """Start the process and wait until its data is ready."""
        self.process, self.conn = _spawn(worker_main,
                                         (self.name, self.spec, self.cache_dir))
        if not self.conn.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"worker for {self.name} did not start")
        status, payload = self.conn.recv()
        if status != "ready":
            self.stop()
            raise RuntimeError(payload)
        if self.meta is None:
            self.meta = payload
            self.log(f"  [{self.name}] data ready: {payload['n_train']} x "
                     f"{payload['n_features']}, warm-up {payload['warm_up_seconds']:.1f} s")

    def run(self, task, cap):
        """Send one task; returns ``(status, payload)``, status "timeout" after
        ``cap`` seconds."""
        if self.process is None or not self.process.is_alive():
            self.start()
        self.conn.send(task)
        if self.conn.poll(cap):
            try:
                return self.conn.recv()
            except EOFError:
                self.stop()
                return ("error", "worker died (out of memory?)")
        self.stop()
        return ("timeout", cap)

    def stop(self):
        """Kill the process (if any)."""
        if self.process is not None:
            _kill(self.process)
        self.process = None

    def close(self):
        """Ask the process to exit, then make sure it has."""
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(10)
            except (BrokenPipeError, OSError):
                pass
        self.stop()


def run_in_process(target, args, cap):
    """Run ``target(conn, *args)`` in a fresh process; it sends one result.

    Returns
    -------
    tuple
        What the target sent, or ``("timeout", cap)``.
    """
    process, conn = _spawn(target, args)
    try:
        if conn.poll(cap):
            return conn.recv()
        return ("timeout", cap)
    finally:
        _kill(process)


def _median(values):
    return float(np.median(values)) if values else float("nan")


def _selected(spec, only):
    return not only or any(part in spec.key for part in only.split(","))


def _log_record(log, name, record):
    if record["status"] == "ok":
        runs = ", ".join(f"{t:.2f}" for t in record["times"])
        log(f"  [{name}] {record['label']}: {record['time']:.2f} s (runs {runs})  acc "
            f"{format_number(record.get('accuracy'), '.4f')}  J "
            f"{format_objective(record.get('J'))}  gap "
            f"{format_number(record.get('duality_gap'), '.2e')}")
    elif record["status"] == "timeout":
        log(f"  [{name}] {record['label']}: capped at {record['cap']:.0f} s")
    else:
        log(f"  [{name}] {record['label']}: ERROR\n{record.get('error')}")


def run_dataset(name, spec, caps, options, cache_dir, log):
    """Fit every selected model on one data set, in one worker.

    Parameters
    ----------
    name : str
    spec : dict
        Its entry of ``config.DATASET_SPECS``.
    caps : dict
        Time cap (seconds) per model key.
    options : argparse.Namespace
        ``only``, ``repeats``, ``repeat_under``.
    cache_dir : str
    log : callable

    Returns
    -------
    dict
        ``meta`` and ``models`` (one record per model).
    """
    worker = Worker(name, spec, cache_dir, log)
    results = []
    try:
        worker.start()
        for model in MODELS:
            adapter = ADAPTERS[model.library]
            if not _selected(model, options.only) or not adapter.available():
                continue
            record = dict(key=model.key, label=model.label, library=model.library,
                          problem=model.problem, params=dict(model.params))
            reason = adapter.unsupported(worker.meta)
            if reason:
                results.append(dict(record, status="n/a", times=[], error=reason))
                continue
            record.update(cap=caps[model.key], times=[])
            for repeat in range(options.repeats):
                status, payload = worker.run(dict(key=model.key, evaluate=repeat == 0),
                                             record["cap"])
                if status != "ok":
                    if repeat == 0:
                        record.update(status=status,
                                      error=payload if status == "error" else None)
                    break
                record["times"].append(payload.pop("time"))
                if repeat == 0:
                    record.update(payload, status="ok")
                if payload.get("time_epoch1") or record["times"][0] > options.repeat_under:
                    break  # slow (or multi-fit) models: one run
            record["time"] = _median(record["times"])
            results.append(record)
            _log_record(log, name, record)
    finally:
        worker.close()
    return dict(meta=worker.meta, models=results)
