"""Run a conversion process: isolated from the caller's working directory, one at a time, and ended
with its whole process tree on a timeout or an interrupt.

``python -I`` keeps the working directory, ``PYTHONPATH`` and the user's site directory off the child's
``sys.path``, so a module planted beside the caller (a ``json.py``) is never imported there. The child
starts a session of its own; on a timeout, Ctrl-C or any other exit from the wait, the whole session
is killed, so no grandchild outlives it. A process that is itself a conversion child
(:data:`CHILD_MARK` in its environment) may not start another: a script that converts a model at
import time, imported again in the child, stops there instead of converting again and again.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from readlx.errors import ConversionError

CHILD_MARK = "READLX_CONVERSION_CHILD"
_ONE_AT_A_TIME = threading.Lock()


def python_module_command(module: str, *args: str) -> list[str]:
    """``python -I -m module args...`` with this interpreter.

    >>> python_module_command("readlx.x", "a")[1:]
    ['-I', '-m', 'readlx.x', 'a']
    """
    return [sys.executable, "-I", "-m", module, *args]


def run_isolated(command: Sequence[str], env: Mapping[str, str], timeout_s: float, what: str) -> str:
    """Run ``command`` (a conversion child) to its end and return its output (stdout and stderr).

    Raises
    ------
    ConversionError
        When this process is itself a conversion child, when the child runs past ``timeout_s`` (its
        process tree is killed) or exits with a non-zero status (the end of its output is quoted).
    """
    if os.environ.get(CHILD_MARK):
        raise ConversionError(f"{what} was asked for inside a conversion process (the model's code converts "
                              "at import time?); a conversion process starts no other")
    with _ONE_AT_A_TIME, subprocess.Popen(list(command), env={**env, CHILD_MARK: "1"}, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise ConversionError(f"{what} ran past {timeout_s} s; it and its children were ended") from e
        finally:
            _end_session(proc)
    log = out.decode(errors="replace")
    if proc.returncode != 0:
        raise ConversionError(f"{what} failed (exit status {proc.returncode}); its output ends with:\n{log[-4000:]}")
    return log


def _end_session(proc: subprocess.Popen[bytes]) -> None:
    """Kill every process of the child's session that is still running, and reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # the session has ended already
        pass
    proc.wait()
