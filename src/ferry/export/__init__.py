"""Export: JSON encoding of collected values and the delivered package (BagIt-style zip)."""

from ferry.export.package import (
    PackageFile,
    PackageInfo,
    PackageMeta,
    VerifyReport,
    verify_package,
    write_package,
)

__all__ = [
    "PackageFile",
    "PackageInfo",
    "PackageMeta",
    "VerifyReport",
    "verify_package",
    "write_package",
]
