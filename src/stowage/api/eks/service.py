"""The ``eks`` service: botocore's EKS model (REST-JSON, served by ``api/aws/rest``) plus the
handlers, bound to the records and the Kubernetes listener's endpoint."""

from __future__ import annotations

import functools

from stowage.api.aws.service import AwsService, Handler
from stowage.api.eks import access, clusters, fargate_profiles, nodegroups, tags
from stowage.api.eks.common import EksPlane

SERVICE_NAME = "eks"


def eks_service(plane: EksPlane) -> AwsService:
    handlers = {
        "CreateCluster": clusters.create_cluster,
        "DescribeCluster": clusters.describe_cluster,
        "ListClusters": clusters.list_clusters,
        "DeleteCluster": clusters.delete_cluster,
        "UpdateClusterVersion": clusters.update_cluster_version,
        "UpdateClusterConfig": clusters.update_cluster_config,
        "DescribeUpdate": clusters.describe_update,
        "ListUpdates": clusters.list_updates,
        "TagResource": tags.tag_resource,
        "UntagResource": tags.untag_resource,
        "ListTagsForResource": tags.list_tags_for_resource,
        "CreateAccessEntry": access.create_access_entry,
        "DescribeAccessEntry": access.describe_access_entry,
        "ListAccessEntries": access.list_access_entries,
        "UpdateAccessEntry": access.update_access_entry,
        "DeleteAccessEntry": access.delete_access_entry,
        "AssociateAccessPolicy": access.associate_access_policy,
        "DisassociateAccessPolicy": access.disassociate_access_policy,
        "ListAssociatedAccessPolicies": access.list_associated_access_policies,
        "ListAccessPolicies": access.list_access_policies,
        "CreateNodegroup": nodegroups.create_nodegroup,
        "DescribeNodegroup": nodegroups.describe_nodegroup,
        "ListNodegroups": nodegroups.list_nodegroups,
        "UpdateNodegroupConfig": nodegroups.update_nodegroup_config,
        "DeleteNodegroup": nodegroups.delete_nodegroup,
        "CreateFargateProfile": fargate_profiles.create_fargate_profile,
        "DescribeFargateProfile": fargate_profiles.describe_fargate_profile,
        "ListFargateProfiles": fargate_profiles.list_fargate_profiles,
        "DeleteFargateProfile": fargate_profiles.delete_fargate_profile,
    }
    bound: dict[str, Handler] = {name: functools.partial(fn, plane) for name, fn in handlers.items()}
    return AwsService(SERVICE_NAME, bound)
