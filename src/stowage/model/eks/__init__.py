"""EKS's rules, pure: cluster records and versions (``clusters``), updates (``updates``), access
policies and what they allow (``access``), AWS-signed Kubernetes tokens (``tokens``), node
groups (``nodegroups``) and Fargate profiles (``fargate_profiles``)."""
