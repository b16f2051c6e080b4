"""The live service: the HTTP API now; camera workers, dashboard and alerts to come."""
