"""The paired permutation test of Fig. 4 (``salanalysis.permutation``) at val2014 scale, side by side.

40,504 images x 80 classes (prevalence 3.6%, scores rounded to 3 decimals, so ties), two
score sets; ``--perms`` within-image swap patterns. Timed in one process, one after the other:

- ``4M, 1 thread``: blocks of 4,000,000 permutation x item cells, one thread (the code before
  threads were added);
- ``1M, 1 thread`` and ``1M, 2 threads``: the current block size, 1 and 2 threads.

The null distributions of the 1M runs are checked bit-identical (the swap patterns are drawn
in the calling thread); the 4M run draws its patterns in other blocks, so its null differs by
sampling only. Prints seconds and ratios.

Usage::

    python benchmarks/permutation.py --perms 199
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--perms", type=int, default=199)
    ap.add_argument("--images", type=int, default=40504)
    args = ap.parse_args(argv)

    from salanalysis import permutation

    rng = np.random.default_rng(0)
    n, c = args.images, 80
    y = rng.random((n, c)) < 0.036
    a = np.round(rng.random((n, c)), 3)
    b = np.round(np.clip(a + rng.normal(0, 0.1, (n, c)), 0, 1), 3)
    rows, nulls = [], {}
    for name, cells, jobs in (("4M, 1 thread", 4_000_000, 1), ("1M, 1 thread", 1_000_000, 1),
                              ("1M, 2 threads", 1_000_000, 2)):
        permutation._CHUNK_ELEMENTS = cells
        t0 = time.perf_counter()
        res = permutation.paired_permutation_ap(y, a, b, n_perm=args.perms, seed=1, jobs=jobs)
        rows.append((name, time.perf_counter() - t0))
        nulls[name] = res.null
    print(f"{n} images x {c} classes, {args.perms} permutations; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    base = rows[0][1]
    for name, sec in rows:
        print(f"{name:14} {sec:7.2f} s  {base / sec:5.2f}x")
    same = np.array_equal(nulls["1M, 1 thread"], nulls["1M, 2 threads"], equal_nan=True)
    print(f"null of 1 and 2 threads bit-identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
