#!/usr/bin/env python3
"""A Lambda deployment zip whose bytes depend on the binary alone: make release (scripts/release.sh) runs it.

Usage: scripts/release-zip.py BOOTSTRAP OUT.zip

One entry, `bootstrap` (what the provided.al2023 runtime runs), mode 0755, no directory entries, no extra fields,
dated SOURCE_DATE_EPOCH (the commit's time in make release; 1980-01-01, the earliest a zip can say, when unset or
earlier). Deflated at level 9 with Python's zlib: another zlib (zlib-ng, say) may compress to other bytes, while the
binary inside, which release.sh also checks, stays the same.
"""
import os
import sys
import time
import zipfile
import zlib

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    binary, out = sys.argv[1], sys.argv[2]
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH") or ZIP_EPOCH), ZIP_EPOCH)
    entry = zipfile.ZipInfo("bootstrap", date_time=time.gmtime(epoch)[:6])
    entry.create_system = 3  # Unix, so that the mode below is read
    entry.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x
    entry.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as f:
        data = f.read()
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, out)
    print(f"{out}: bootstrap {len(data)} bytes, zip {os.path.getsize(out)} bytes (zlib {zlib.ZLIB_RUNTIME_VERSION})")


if __name__ == "__main__":
    main()
