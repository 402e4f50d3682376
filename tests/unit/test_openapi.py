"""The frontend's typed client is generated from frontend/openapi.json; it must match the API."""

import json
from pathlib import Path

from src.app import API_PREFIX, create_app

REPO = Path(__file__).resolve().parents[2]


def test_committed_openapi_schema_is_current():
    """frontend/openapi.json equals the schema the app serves (run `make openapi` after API changes)."""
    committed = json.loads((REPO / "frontend" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(create_app().openapi())), "stale: run `make openapi`"


def test_every_operation_has_a_tagged_unique_id():
    """Operation ids are `{tag}-{name}` and unique, so the generated client has stable names."""
    schema = create_app().openapi()
    ids = []
    for path, item in schema["paths"].items():
        assert path.startswith(API_PREFIX + "/")
        for method, operation in item.items():
            tag = operation["tags"][0]
            assert operation["operationId"].startswith(f"{tag}-"), (method, path)
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
