"""The Kubernetes API server: machinery (discovery, OpenAPI, verbs, watch, patch, tables) over
declared resource types (``registry.py``), served on its own HTTPS listener."""
