"""pogema 1.4.0's own test suite, run against rmapf.

The tests ship in pogema's source distribution on PyPI (``pogema-1.4.0.tar.gz``, ``tests/``).
This script downloads it with pip (once, into ``--cache``), then runs those tests unchanged after
``rmapf.install_as_pogema()``, which resolves ``pogema`` and its module paths to rmapf's
(``rmapf.pogema_alias.POGEMA_MODULES``).

Tests that exercise what rmapf deliberately does not offer would be listed in
``KNOWN_DIFFERENCES`` and expected to fail (strict: one that starts passing fails the run, so the
list stays true), each with its reason; today the list is empty and all of pogema's tests pass.
Exit status is pytest's.

    python python/tests/pogema_own_suite.py [--cache target/pogema-1.4.0]
"""
import argparse
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "1.4.0"

#: Tests of pogema's that rmapf is known to fail, with why.
KNOWN_DIFFERENCES = {
}

CONFTEST = '''"""Resolves pogema and the submodules its tests import to rmapf (written by
pogema_own_suite.py)."""
import pytest

import rmapf

rmapf.install_as_pogema()

KNOWN_DIFFERENCES = {known!r}


def pytest_collection_modifyitems(items):
    for item in items:
        reason = KNOWN_DIFFERENCES.get(item.nodeid.split("tests/")[-1])
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
'''


def tests_of_pogema(cache):
    """pogema's ``tests/`` folder from its sdist, downloaded into ``cache`` once."""
    archive = cache / f"pogema-{VERSION}.tar.gz"
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"pogema=={VERSION}", "--dest", str(cache)], check=True)
    root = cache / f"pogema-{VERSION}"
    if not (root / "tests").is_dir():
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(f"pogema-{VERSION}/tests/")]
            tar.extractall(cache, members=members)
    return root / "tests"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("target") / f"pogema-{VERSION}",
                        help="folder for pogema's source distribution and its extracted tests")
    args, pytest_args = parser.parse_known_args()
    tests = tests_of_pogema(args.cache.resolve())
    (tests / "conftest.py").write_text(CONFTEST.format(known=KNOWN_DIFFERENCES))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
                           str(tests), *pytest_args], cwd=tests.parent).returncode


if __name__ == "__main__":
    sys.exit(main())
