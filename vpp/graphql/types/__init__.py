"""GraphQL types, one per file, each built from the stored model by a `from_...` classmethod."""
