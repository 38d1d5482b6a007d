"""The book is a regression test: build it, executing every cell.

Runs ``sphinx-build -W --keep-going`` (warnings are errors) into a
temporary folder. A chapter cell that raises (unless tagged
``raises-exception``), a failing final ``assert`` cell, a broken
cross-reference or a missing include fails this test, and the build log
(with the cell's traceback) is shown.
"""
import subprocess
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent.parent / "book"


def test_book_builds_with_every_cell_executed(tmp_path):
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(BOOK), str(out)],
        capture_output=True, text=True, timeout=1800)
    log = proc.stdout[-20000:] + "\n" + proc.stderr[-20000:]
    assert proc.returncode == 0, f"sphinx-build failed:\n{log}"
    chapters = sorted(p.stem for p in BOOK.glob("*.md"))
    built = {p.stem for p in out.glob("*.html")}
    assert set(chapters) <= built, f"chapters not built: {set(chapters) - built}"
    # Formulas must render offline: MathJax comes from the book's own _static.
    page = (out / "uncertainties.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert "cdn.jsdelivr.net" not in page
