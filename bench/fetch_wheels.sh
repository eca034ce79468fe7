#!/usr/bin/env bash
# Download, here, the wheels bench/gpu_check.sh installs on a lent GPU machine (which has no network).
#
#   bash bench/fetch_wheels.sh [DIR]        # DIR default .whl/ (git-ignored: /.whl/ in .gitignore)
#
# The machine's image (Python 3.12, x86-64) already holds numpy, scipy, pandas, xarray, matplotlib, numba,
# numba-cuda, cupy-cuda13x, click, pyyaml, tqdm, pytest, pytest-timeout, hypothesis, cloudpickle, msgpack,
# psutil, toolz, fsspec, jinja2, packaging, sortedcontainers, python-dateutil and typing-extensions
# (/work/.library/device/KINDS.md).  What gpu_alvh needs beyond that is listed in NEEDED below with the
# dependencies each brings (zarr: numcodecs, donfig, google-crc32c; dask/distributed: partd, locket, tblib,
# zict, tornado; pydantic: pydantic-core, annotated-types, typing-inspection; exchange_calendars: pyluach,
# korean-lunar-calendar, tzdata) and QuantLib for the path-generation benchmark's reference row.  Each is
# pinned to the version installed in this Python when there is one (the versions the tests ran with).
# Wheels only, cp312 / abi3 / pure, manylinux x86-64.  Also writes DIR/REVISION (git describe of this
# tree), which gpu_check.sh stores in the records: the copy of the tree there has no .git.
# Carry DIR with the run (`carry: [".whl"]`); the folder must stay under the 64 MiB a call carries.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.whl}
PY=${PYTHON:-python3}
NEEDED=(zarr numcodecs donfig google-crc32c dask distributed partd locket tblib zict tornado
        pydantic pydantic-core annotated-types typing-inspection exchange-calendars pyluach korean-lunar-calendar tzdata QuantLib)

mapfile -t SPECS < <("$PY" - "${NEEDED[@]}" <<'EOF'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
EOF
)
mkdir -p "$DEST"
PLATFORMS=()
for p in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  PLATFORMS+=(--platform "${p}_x86_64")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" -d "$DEST" "${SPECS[@]}"
(git -C "$ROOT" describe --always --dirty --abbrev=40 2>/dev/null || echo unknown) >"$DEST/REVISION"
echo "$(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST (revision $(cat "$DEST/REVISION"))"
for spec in "${SPECS[@]}"; do echo "  $spec"; done
