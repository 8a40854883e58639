"""Run a command's Python entry point under yappi (CPU clock, every thread) and write the
profile when the process exits: ``python -m bench.profiled OUT.pstats celery -A … worker …``.

The bench starts scenario 6's workers this way with ``--profile``; read a profile with
``python -m pstats OUT.pstats`` (``sort cumtime``, ``stats 40``). yappi's CPU clock slows the
worker several times over: use it to rank where the time goes, never for throughput.
"""

from __future__ import annotations

import atexit
import runpy
import signal
import sys


def main() -> None:
    import yappi

    out, module, *args = sys.argv[1:]
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)

    def dump() -> None:
        yappi.stop()
        yappi.get_func_stats().save(out, type="pstat")

    atexit.register(dump)
    # Celery turns SIGTERM into a warm shutdown and then exits normally, so atexit runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
