"""VectorFile lookups on 100,000 vectors of 256 dims (one project), as a restarted daemon
has them: nearest(), get() of 200 keys, add() of one vector. For A/B of two code bases:

    python scripts/vector_file_bench.py                      # this checkout
    PYTHONPATH=/tmp/old python scripts/vector_file_bench.py  # another one
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from tsr_lsp.memory.embed import VectorFile


def main() -> None:
    rng = np.random.default_rng(0)
    path = Path(tempfile.mkdtemp()) / "v.i8"
    vf = VectorFile(path, dim=256)
    for i in range(0, 100_000, 1000):
        v = rng.standard_normal((1000, 256)).astype(np.float32)
        vf.add(list(range(i, i + 1000)), v / np.linalg.norm(v, axis=1, keepdims=True), [1] * 1000)
    vf = VectorFile(path, dim=256)
    q = rng.standard_normal(256).astype(np.float32)
    q /= np.linalg.norm(q)
    for name, fn in [
        ("nearest", lambda: vf.nearest(q, 1, 10)),
        ("get 200", lambda: vf.get(list(range(0, 100_000, 500)))),
    ]:
        times = []
        for _ in range(31):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        print(f"{name}: p50 {sorted(times)[15] * 1000:.2f} ms")
    start = time.perf_counter()
    for i in range(100):
        vf.add([200_000 + i], q[None, :], [1])
    print(f"add one: {(time.perf_counter() - start) * 10:.2f} ms")


if __name__ == "__main__":
    main()
