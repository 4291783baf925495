"""The EKS API: cluster, access, node group, Fargate profile and tagging handlers (``service``
binds them), EKS token verification (``tokens``), and each cluster's Kubernetes API (``kube``,
``kube_auth``). See docs/eks.md."""
