"""The ``hybridtl`` command: backbones, download, extract, fit, predict, evaluate, bench.

DATA is a folder with one subfolder per class, a CSV with ``path`` and
``label`` columns, or ``digits`` (scikit-learn's real handwritten digits);
``predict`` and ``extract`` also take a plain folder, a path-only CSV or one
image file. Every error the command can foresee prints one line and exits
with code 2, checked before any work where it can be (output paths, optional
packages, image sizes); Ctrl-C exits 130 and leaves earlier files untouched.
Nothing is written half-way: every output goes to a temporary name first.

Only the standard library is imported at the top, so ``--help`` is quick;
each verb imports what it needs.
"""

from __future__ import annotations

import sys

from ._parser import build_parser
from ._verbs import Interrupted

__all__ = ["build_parser", "main"]


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (Interrupted, KeyboardInterrupt):
        print(f"hybridtl {args.verb}: interrupted; nothing was saved and earlier files are unchanged", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"hybridtl {args.verb}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
