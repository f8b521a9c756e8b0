"""The fault tests at full size: SIGKILL at 20 random moments during `hybridtl fit` and a cached transform.

    python benchmarks/faults.py [--kills 20]

Runs ``tests/test_faults.py`` (real subprocesses, real kills; ``make test`` runs it with 6) and
prints how many runs were killed and that every model file and cache entry stayed whole.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--kills", type=int, default=20)
args = parser.parse_args()
tests = Path(__file__).resolve().parent.parent / "tests" / "test_faults.py"
env = {**os.environ, "HYBRIDTL_KILLS": str(args.kills)}
sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tests)], env=env))
