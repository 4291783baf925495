"""Pure Kubernetes API machinery: selectors, patches, object metadata, schema validation.

Nothing here does I/O; the API layer (``stowage.api.k8s``) feeds it parsed documents and the
OpenAPI definitions it loaded.
"""
