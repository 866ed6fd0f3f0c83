"""The GraphQL schema (Strawberry): types, queries, mutations, subscriptions, permissions.

Always imported as `vpp.graphql`: a top-level `graphql` package would shadow graphql-core.
"""
