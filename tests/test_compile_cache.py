"""The numba cache: a read-only installed package, and the verbose notice of a
first compile.

numba writes compiled kernels next to their module (``__pycache__``); when that
directory cannot be written it falls back to a per-user cache directory. The first
test installs a copy of the package in a read-only directory, fits twice in fresh
processes, and checks that the second process loads every kernel from the user
cache instead of compiling it again.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import sksvm

FIT_TWICE = textwrap.dedent("""
    import json, warnings
    import numpy as np
    from sksvm import LinearMulticlassSVM, _dual_kernels
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), np.arange(40) % 3
    LinearMulticlassSVM(solver="dual_cd", max_iter=3, random_state=0).fit(X, y)
    stats = _dual_kernels.dense_epoch.stats
    import sksvm
    print(json.dumps(dict(module=sksvm.__file__, path=stats.cache_path, hits=sum(stats.cache_hits.values()),
                          misses=sum(stats.cache_misses.values()))))
""")


def _run(code, env, cwd):
    # cwd: "python -c" puts the working directory first on sys.path.
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _protect(directory, protect):
    """Make ``directory`` unwritable, for root too (which ignores permission bits:
    the immutable attribute, where the file system has it)."""
    if os.geteuid() != 0:
        os.chmod(directory, 0o555 if protect else 0o755)
        return True
    result = subprocess.run(["chattr", "+i" if protect else "-i", str(directory)],
                            capture_output=True)
    return result.returncode == 0


def test_read_only_install_falls_back_to_a_user_cache(tmp_path):
    if shutil.which("chattr") is None and os.geteuid() == 0:
        pytest.skip("running as root without chattr: cannot make a directory read-only")
    site = tmp_path / "site"
    package = site / "sksvm"
    shutil.copytree(os.path.dirname(sksvm.__file__), package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("NUMBA_CACHE")}
    env.update(PYTHONPATH=str(site), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONDONTWRITEBYTECODE="1")
    if not _protect(package, True):
        pytest.skip("this file system cannot make a directory read-only for root")
    try:
        first = _run(FIT_TWICE, env, home)
        second = _run(FIT_TWICE, env, home)
    finally:
        _protect(package, False)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    first, second = json.loads(first.stdout), json.loads(second.stdout)
    assert first["module"].startswith(str(package)), first
    assert first["path"].startswith(str(home)), first  # the user cache, not the package
    assert first["misses"] >= 1
    assert second["hits"] >= 1 and second["misses"] == 0, second
    assert not (package / "__pycache__").exists()


VERBOSE_FITS = textwrap.dedent("""
    import warnings
    import numpy as np
    from sksvm import LinearMulticlassSVM
    warnings.simplefilter("ignore")
    X, y = np.random.RandomState(0).randn(30, 3), np.arange(30) % 3
    for _ in range(2):
        LinearMulticlassSVM(solver="dual_cd", verbose=1, max_iter=2,
                            random_state=0).fit(X, y)
    # Too large for Newton's cheap path, and separable: its start epochs end the
    # fit, and the Newton steps' kernels are never called.
    rng = np.random.RandomState(1)
    y = np.arange(400) % 3
    X = rng.randn(400, 850) + 4.0 * np.eye(3, 850)[y]
    for _ in range(2):
        LinearMulticlassSVM(solver="newton", verbose=1, random_state=0).fit(X, y)
""")


def test_verbose_announces_a_compile_once(tmp_path):
    """With verbose, a line announces the first compile, before the first progress
    line; neither a second fit nor a later process with the cache filled repeats
    it, nor a Newton fit that never reaches the kernels it would compile."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    outputs = [_run(VERBOSE_FITS, env, tmp_path) for _ in range(2)]
    assert all(output.returncode == 0 for output in outputs), outputs[0].stderr
    first, second = (output.stdout.splitlines() for output in outputs)
    notices = [i for i, line in enumerate(first) if "compiling" in line]
    assert len(notices) == 1 and notices[0] == 0, first
    assert first[1].startswith("[dual_cd] iter")
    assert not any(line.startswith("[newton]") for line in first), first
    assert not any("compiling" in line for line in second), second
