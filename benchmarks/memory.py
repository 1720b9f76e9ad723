"""Resident memory of the current process, from ``/proc`` (Linux)."""

import gc


def proc_status_bytes(field):
    """One memory field of ``/proc/self/status``.

    Parameters
    ----------
    field : str
        ``"VmRSS"`` (current resident set) or ``"VmHWM"`` (its high-water mark).

    Returns
    -------
    int or None
        The value in bytes; None where ``/proc`` is not available.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Reset the resident-set high-water mark to the current RSS (Linux >= 4.0).

    Returns
    -------
    bool
        Whether the reset worked.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager measuring the RSS before a block and the peak RSS during it.

    Attributes
    ----------
    before : int or None
        RSS in bytes on entry (after a garbage collection).
    peak : int or None
        Peak RSS in bytes during the block; None where it cannot be measured.
    """

    def __enter__(self):
        gc.collect()
        self.before = proc_status_bytes("VmRSS")
        self.reset = reset_peak_rss()
        return self

    def __exit__(self, *exc):
        self.peak = proc_status_bytes("VmHWM") if self.reset else None
        return False


def measure_call(function):
    """Call ``function()`` with warnings silenced; time it and its peak memory.

    Returns
    -------
    result : object
        What ``function`` returned.
    seconds : float
        Wall time of the call.
    memory : PeakMemory
        RSS before and peak RSS during the call.
    """
    import time
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = function()
            seconds = time.perf_counter() - start
    return result, seconds, memory
