"""Vendor the overview's charting library from the npm registry, pinned by version and hash.

`./dev up` and `./dev test` run this when the file is missing: `npm pack` fetches the exact
tarball, its sha512 must equal the registry's published integrity below, and only the one
browser build is copied into overview/static/ (ignored by git, served by the portal itself,
so the page loads no script from another host).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "chart.js"
VERSION = "4.5.1"
INTEGRITY = "sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw=="
MEMBER = "package/dist/chart.umd.min.js"
TARGET = ROOT / "overview" / "static" / "overview" / "vendor" / "chart.umd.min.js"


def vendor(force: bool = False) -> Path:
    if TARGET.exists() and not force:
        return TARGET
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=tmp, check=True, capture_output=True)
        tarball = Path(tmp) / f"{PACKAGE}-{VERSION}.tgz"
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            raise SystemExit(f"error: {tarball.name} has {digest}, expected {INTEGRITY}")
        with tarfile.open(tarball) as archive:
            content = archive.extractfile(MEMBER).read()  # type: ignore[union-attr]
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(content)
    print(f"Vendored {PACKAGE} {VERSION} into {TARGET.relative_to(ROOT)}")
    return TARGET


if __name__ == "__main__":
    vendor(force="--force" in sys.argv)
