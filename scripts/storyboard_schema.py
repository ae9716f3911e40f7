"""Regenerate docs/storyboard.schema.json from the storyboard models: uv run python scripts/storyboard_schema.py

tests/unit/test_storyboard.py fails while the committed schema differs from what the models generate.
"""

import json
import pathlib

from veokit.models.storyboard import storyboard_json_schema

SCHEMA = pathlib.Path(__file__).resolve().parent.parent / "docs" / "storyboard.schema.json"


def render() -> str:
    return json.dumps(storyboard_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA.write_text(render(), "utf-8")
    print(f"wrote {SCHEMA}")
