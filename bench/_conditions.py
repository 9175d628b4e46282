"""The conditions a benchmark ran under, printed beside every table in bench/.

A figure from a shared, noisy machine means little without them: the CPU and
its cores, the math threads torch uses, the load average when the table was
printed, and the versions of Python, torch and transformers. Versions come
from the installed metadata, so a script that never imports torch does not
pay for importing it here.

    from _conditions import conditions   # bench/ is on sys.path for its scripts
    print(conditions())

>>> conditions().startswith("conditions: ")
True
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

PACKAGES = ("torch", "transformers")


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), else the platform's word for it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def threads() -> str:
    """torch's intra- and inter-op threads when torch is loaded, else the thread variables that will set them."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return f"torch threads {torch.get_num_threads()} (inter-op {torch.get_num_interop_threads()})"
    return f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"


def versions() -> str:
    """Python and the installed versions of the packages that set the speed."""
    found = [f"python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def conditions() -> str:
    """One line: CPU and cores, threads, load average (1, 5, 15 minutes) now, versions."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return f"conditions: {cpu_name()}, {os.cpu_count()} CPUs; {threads()}; load average {load}; {versions()}"


if __name__ == "__main__":  # for shell scripts: bash bench/pretrain_gain.sh prints this line with its table
    print(conditions())
