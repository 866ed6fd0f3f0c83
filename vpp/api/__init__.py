"""The API process (`vpp api`): FastAPI serving GraphQL, the seed's REST endpoints,
health and metrics, with Keycloak bearer tokens on every request."""
