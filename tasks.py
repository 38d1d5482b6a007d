#!/usr/bin/env python3
"""Build the book or run the tests, on a machine that has only Python.

    python3 tasks.py book    # build book/_build/html (open index.html there)
    python3 tasks.py test    # unit, property and doctests, and the book build
    python3 tasks.py bench   # the benchmark scripts in benchmarks/

Each command creates a virtual environment in ``.venv`` on first use and
installs lmfit_ref into it (editable) with the extras it needs. The install
is repeated only when ``pyproject.toml`` changes, so later runs start at
once. Only the standard library is used here, so this file runs before
anything is installed.
"""
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / "lmfit_ref-installed.txt"


def run(*cmd):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_env():
    """Create .venv and install the project with its book and test extras."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if run(PYTHON, "-m", "pip", "install", "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip in .venv")
    if run(PYTHON, "-m", "pip", "install", "-e", ".[book,test]") != 0:
        sys.exit("could not install lmfit_ref and its extras into .venv")
    STAMP.write_text(want)


def book():
    ensure_env()
    out = ROOT / "book" / "_build" / "html"
    code = run(PYTHON, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-d", ROOT / "book" / "_build" / "doctrees", "book", out)
    if code == 0:
        print(f"\nThe book is built. Open {out / 'index.html'} in a browser.")
    return code


def test():
    ensure_env()
    return run(PYTHON, "-m", "pytest", *sys.argv[2:])


def bench():
    ensure_env()
    code = 0
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        code |= run(PYTHON, script)
    return code


if __name__ == "__main__":
    tasks = {"book": book, "test": test, "bench": bench}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(tasks)}}}")
    sys.exit(tasks[sys.argv[1]]())
