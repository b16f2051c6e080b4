"""The live service: camera readers and the HTTP API so far.

Camera workers, the dashboard and alerts are still to come.
"""
