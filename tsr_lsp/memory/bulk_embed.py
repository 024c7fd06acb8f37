"""Big batches of episode vectors, embedded in a child process.

Embedding a 2,000-episode import in the daemon left its heap fragmented: the encoder's
temporaries were freed, but small objects allocated between them kept those pages
resident (in-process, 10 imports of 2,000: +11 MB of RSS with the vectors made here, +2-3 MB
without; docs/RELIABILITY.md, stop 22). A child process takes that churn with it: it embeds
the texts with the same static encoder and appends the records to the vector file in one
write; the daemon then reads only the new records (`VectorFile.refresh`).

Protocol: ``python -m tsr_lsp.memory.bulk_embed ENCODER_FOLDER VECTOR_FILE``, stdin a JSON
list of ``[key, project, text]``; exit status 0 once the records are appended. The texts are
already redacted (the store embeds what it stores); nothing is logged or kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TIMEOUT_S = 300.0  # ~20,000 texts a second here; far above any batch the store sends


def embed_in_child(folder: Path, path: Path, items: list[tuple[int, int, str]]) -> None:
    """Run the child on ``items``; RuntimeError (with the child's last error line) when it
    fails, subprocess.TimeoutExpired when it overruns (it is killed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_lsp.memory.bulk_embed", str(folder), str(path)],
        input=json.dumps(items).encode(),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"exit status {proc.returncode}: {lines[-1] if lines else ''}"[:300])


def append_vectors(folder: Path, path: Path, items: list[Any]) -> int:
    """Embed ``items`` and append their records to ``path``: one write, after all are
    embedded (a child killed earlier leaves the file as it was)."""
    import numpy as np

    from tsr_lsp.memory.embed import VectorFile, encode_records
    from tsr_lsp.memory.static import StaticEncoder
    from tsr_lsp.paths import private_file

    encoder = StaticEncoder(folder)
    parts = []
    for i in range(0, len(items), 1024):
        chunk = items[i : i + 1024]
        vecs = encoder.embed([str(text) for _k, _p, text in chunk])
        codes, scale = VectorFile.quantize(vecs)
        keys = np.array([int(k) for k, _p, _t in chunk], dtype=np.int64)
        projects = np.array([int(p) for _k, p, _t in chunk], dtype=np.int64)
        parts.append(encode_records(encoder.dim, keys, projects, codes, scale))
    with private_file(path, "ab") as fh:
        fh.write(b"".join(parts))
    return len(items)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tsr_lsp.memory.bulk_embed FOLDER VECTOR_FILE", file=sys.stderr)
        return 2
    items = json.load(sys.stdin.buffer)
    append_vectors(Path(argv[0]), Path(argv[1]), items)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
