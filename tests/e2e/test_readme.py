"""The README's command examples work as pasted, in order, on a new database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> str:
    text = README.read_text()
    start = text.index("The examples below work as pasted")
    return text[start:].split("```\n", 2)[1]


def test_the_readme_examples_run_as_pasted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMAC_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euc", examples()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "record verified" in result.stdout
