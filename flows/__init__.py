"""Orchestration: the ``neat`` command line and the Prefect flows that loop NEAT rounds.

Nothing here holds model or data code; it calls into ``neat_data`` and ``neat_train``.
"""
