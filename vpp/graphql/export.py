"""Print the schema's SDL: `python -m vpp.graphql.export > schema.graphql` (the committed
copy at the repository root is compared with this in the tests)."""

from __future__ import annotations

import sys


def sdl() -> str:
    from vpp.graphql.schema import schema

    return schema.as_str() + "\n"


def main() -> None:
    sys.stdout.write(sdl())


if __name__ == "__main__":
    main()
