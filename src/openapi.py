"""Writes the OpenAPI schema (the frontend's typed client is generated from it).

    python -m src.openapi frontend/openapi.json
"""

import json
import sys

from src.app import create_app


def main() -> None:
    schema = json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as fh:
            fh.write(schema)
    else:
        sys.stdout.write(schema)


if __name__ == "__main__":
    main()
