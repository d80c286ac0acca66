"""The package as a user installs it: the built wheel, no extras, in a fresh environment."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_alone_runs_the_demo_and_names_what_it_skipped(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (wheel,) = wheels.glob("seglab-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [env_dir / "bin" / "seglab", "demo", "--n", "8", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped ")]
    # no extras: the U-Net (torch) and the ensemble built on it are named with their extra
    assert "skipped unet: needs torch, safetensors: pip install 'seglab[deep]'" in skipped
    assert any(line.startswith("skipped ensemble: unet needs torch") for line in skipped)
    result = json.loads((tmp_path / "demo" / "bench.json").read_text())
    ran = {m["name"] for m in result["methods"]}
    assert {"threshold", "rf", "kmeans"} <= ran and "unet" not in ran
    from seglab.segmenters import list_segmenters

    assert len(ran) + len(skipped) == len(list_segmenters())  # every method ran or is named
