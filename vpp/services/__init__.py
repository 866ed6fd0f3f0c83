"""The use cases the API serves, shared by REST and GraphQL so nothing is written twice.

Each function takes the clients it needs and raises a `vpp.services.errors.ServiceError`
for anything the caller did wrong; the REST layer turns those into 4xx answers, the
GraphQL layer into errors with extension codes.
"""
