"""The ECS service scheduler: keeps each service's tasks at its desired state, one step per sync.

``controller.ServiceController`` owns a keyed work queue (``queue``), a watch on the service
records (``informer``), the per-service view of tasks fed by the task index (``tracker``) and
the sync function (``sync``) that takes one step per service key, with the circuit breaker
(``breaker``). Task placement is injected
(``launcher.Launcher``): the API layer builds service tasks exactly as RunTask does.
"""
