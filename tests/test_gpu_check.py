"""``make gpu-check``'s script: one line and exit 0 without a GPU; its checks and table run (at toy sizes) on
the CPU, so the code a GPU machine runs has run before it gets there."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip().splitlines() == [
        "gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing to check"]


def test_the_same_checks_and_table_run_on_the_cpu_at_toy_sizes():
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    verdicts = {line.split()[1]: line.split()[0] for line in lines if line[:4] in ("PASS", "FAIL", "SKIP")}
    assert verdicts == {"amp_channels_last": "PASS", "oom_backoff": "SKIP", "gpu_model_on_cpu": "PASS",
                        "ddp": "PASS"}
    table = [line for line in lines if line.startswith("| ") and "img/s" not in line and "---" not in line]
    assert len(table) == 5 and all(line.count("|") == 4 for line in table)
