"""``python -m mouselift.weights install BUILD/models | status``: install a build of the built-in
models into the package (``make weights``), or say which are installed and whether their weights
match their records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import MouseliftError
from . import STAGE1_DIR, STAGE2_DIR, builtin_dir, find_builtin, install, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mouselift.weights",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("install", help="copy BUILD/models (stage1/, stage2/) into the package")
    put.add_argument("models", type=Path)
    sub.add_parser("status", help="the installed built-in models and their check")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(f"installed {args.models} → {install(args.models)}")
            return 0
        found = find_builtin()
        if found is None:
            print(f"no built-in models in {builtin_dir()}")
            return 1
        print(found.line())
        bad = [f"{stage}: {name}" for stage in (STAGE1_DIR, STAGE2_DIR)
               for name in verify(builtin_dir() / stage)]
        print("weights match their records" if not bad else f"MISMATCH: {', '.join(bad)}")
        return 0 if not bad else 1
    except MouseliftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
