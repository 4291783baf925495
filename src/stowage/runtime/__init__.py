"""The container runtime boundary. `base` holds the Protocol and data types; `docker` (Docker /
Podman Engine API) and `fake` (in-memory) implement it; `awsvpc` builds task namespaces on it."""
