"""Print the Mermaid diagram and the retry/catch table of statemachine/README.md.

    PYTHONPATH=tests .venv/bin/python tests/asl/render_docs.py [--diagram | --table]

(`--diagram` or `--table` prints only that part.) Paste the output into the README's "## The flow" section after changing the
definition; tests/asl/test_asl_structure.py fails until the page matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asl_rules  # noqa: E402
from asl_harness import DEFINITION_PATH  # noqa: E402


def main(argv: list[str]) -> None:
    definition = json.loads(DEFINITION_PATH.read_text(encoding="utf-8"))
    parts = set(argv) & {"--diagram", "--table"} or {"--diagram", "--table"}
    if "--diagram" in parts:
        print("```mermaid")
        print(asl_rules.mermaid(definition))
        print("```")
    if parts == {"--diagram", "--table"}:
        print()
    if "--table" in parts:
        print(asl_rules.policy_table(definition))


if __name__ == "__main__":
    main(sys.argv[1:])
