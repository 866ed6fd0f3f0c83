"""Temporal search attributes that make workflows findable in the Temporal UI.

The dev server registers these at start (`vpp stack up`); workflows upsert them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

DISPATCH_ACTION = SearchAttributeKey.for_keyword("VppAction")
DISPATCH_ISSUER = SearchAttributeKey.for_keyword("VppIssuer")
DISPATCH_STATUS = SearchAttributeKey.for_keyword("VppStatus")
DISPATCH_NODE_COUNT = SearchAttributeKey.for_int("VppNodeCount")
DISPATCH_NODES = SearchAttributeKey.for_keyword_list("VppNodes")

ALL: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]
    DISPATCH_ACTION,
    DISPATCH_ISSUER,
    DISPATCH_STATUS,
    DISPATCH_NODE_COUNT,
    DISPATCH_NODES,
)

# Names of the types as the `temporal` CLI spells them.
_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "KEYWORD_LIST": "KeywordList",
    "TEXT": "Text",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
}


def cli_spec() -> list[str]:
    """`NAME=Type` pairs for `temporal server start-dev --search-attribute`."""
    return [f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}" for key in ALL]
