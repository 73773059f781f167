"""Write the public API's merged OpenAPI document (what the gateway serves at /v1/openapi.json) to a
file: the console's client is generated from it (`npm run gen` in web/), and a test fails when the
committed copy no longer matches the services.

    .venv/bin/python scripts/openapi_dump.py web/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "libs"), *(str(p) for p in sorted((ROOT / "services").iterdir()) if p.is_dir())]


def merged_document() -> dict[str, Any]:
    """The document of a throwaway embedded platform (SQLite, no workers)."""
    from crm_testing.platform import start_platform

    with tempfile.TemporaryDirectory(prefix="crm-openapi-") as var:
        platform = start_platform(Path(var))
        try:
            resp = platform.request("GET", "/v1/openapi.json")
            if resp.status != 200:
                raise SystemExit(f"/v1/openapi.json answered {resp.status}")
            return dict(resp.json())
        finally:
            platform.close()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "web" / "openapi.json")
    target.write_text(render(merged_document()), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
