"""``python -m mouselift.splat.native build|status``: build or locate the compiled rasteriser.

    python -m mouselift.splat.native build            # what `make install` runs
    python -m mouselift.splat.native build --optional # exit 0 (with a note) without a compiler
    python -m mouselift.splat.native status
"""

from __future__ import annotations

import argparse
import sys

from . import NativeUnavailable, build, find_library, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mouselift.splat.native",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="compile rasterize.c with the system C compiler")
    build_parser.add_argument("--optional", action="store_true",
                              help="a missing compiler or failed build is a note, not an error")
    sub.add_parser("status", help="say whether the compiled rasteriser is built and loads")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            path = build()
            load()
        except NativeUnavailable as err:
            if args.optional:
                print(f"note: {err}; CPU renders use the pure-PyTorch rasteriser (same images, "
                      "slower)")
                return 0
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"built the compiled CPU rasteriser: {path}")
        return 0
    try:
        load()
    except NativeUnavailable as err:
        print(f"not available: {err}")
        return 1
    print(f"available: {find_library()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
