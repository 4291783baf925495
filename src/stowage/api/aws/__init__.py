"""The AWS JSON protocol layer: ``app.AwsApi`` (ASGI), ``sigv4``, ``shapes`` (input validation),
``serialize`` (output), ``catalog`` (targets from botocore models), ``errors``, and the handler
interface (``service``, ``context``)."""
