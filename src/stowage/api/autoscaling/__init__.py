"""Application Auto Scaling (botocore model ``application-autoscaling``) for ECS services."""
