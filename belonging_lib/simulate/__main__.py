"""``python -m belonging_lib.simulate [--out DIR] [--seed N]``: write the sample data."""

from __future__ import annotations

import argparse

from .sample import DEFAULT_SEED, write_sample_data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic sample data.")
    parser.add_argument("--out", default=None, help="output folder (default: data/sample)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    paths = write_sample_data(args.out, seed=args.seed, progress=True)
    for p in paths.values():
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
