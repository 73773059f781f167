"""Building the web console (web/ -> web/dist) when it is missing or older than its sources:
`make up` does it before starting, the browser tests before their first page."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

from crm_core.settings import REPO_ROOT

WEB = REPO_ROOT / "web"
CONFIG = ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")


class ConsoleBuildError(RuntimeError):
    pass


def _newest_source(web: Path) -> float:
    files = [web / name for name in CONFIG] + [p for p in (web / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def is_stale(web: Path = WEB) -> bool:
    index = web / "dist" / "index.html"
    return not index.exists() or index.stat().st_mtime < _newest_source(web)


def ensure_built(web: Path = WEB, log: bool = True) -> bool:
    """Build if stale; False when npm is missing (the API works without the console). One build at
    a time per checkout (a lock file), so parallel test workers wait for each other's build."""
    if not is_stale(web):
        return True
    npm = shutil.which("npm")
    if npm is None:
        if log:
            print("npm not found: the web console is not built (the API works without it)", flush=True)
        return False
    with open(web / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_stale(web):
            return True
        # node_modules is what `npm ci` made of this very lockfile (its hash, not a time, decides)
        stamp = web / "node_modules" / ".crm-lock-sha1"
        lock_hash = hashlib.sha1((web / "package-lock.json").read_bytes()).hexdigest()
        if not stamp.exists() or stamp.read_text().strip() != lock_hash:
            _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], web, log, "installing the console's packages")
            stamp.write_text(lock_hash)
        _run([npm, "run", "--silent", "build"], web, log, "building the web console")
        (web / "dist" / "index.html").touch()  # newer than every source now
    return True


def _run(args: list[str], cwd: Path, log: bool, what: str) -> None:
    if log:
        print(f"{what} ...", flush=True)
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ConsoleBuildError(f"{what} failed ({' '.join(args[1:])}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
