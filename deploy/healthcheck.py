"""Container healthcheck of a web process: GET /api/health (database and channel layer).

The request names a host from ALLOWED_HOSTS, as a load balancer's would; /api/health is exempt
from the HTTPS redirect, so plain HTTP on the private port answers.
"""

import os
import sys
import urllib.request


def host() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        name = entry.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def main() -> int:
    request = urllib.request.Request("http://127.0.0.1:8000/api/health", headers={"Host": host()})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
