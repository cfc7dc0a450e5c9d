"""`powerpeg ui`: a game day in the Locust web UI — the Chaos tab, its control API, the KILL SWITCH."""
