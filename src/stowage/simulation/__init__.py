"""Simulated hosts: many real agents over fake runtimes in one process (``stowage simulate``).

The agents are the real `stowage.agent.agent.Agent` and talk to the control plane over HTTP
like any other agent, so this package obeys the agent's import contract: no store, resources,
controllers or API code.
"""
