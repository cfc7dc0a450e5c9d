"""`powerpeg gameday`: a suite of experiments run in order, one dated report directory, and the history."""
