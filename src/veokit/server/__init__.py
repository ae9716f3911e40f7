"""veokit's HTTP servers: receivers for providers' callbacks (and, to come, the HTTP API and studio)."""
