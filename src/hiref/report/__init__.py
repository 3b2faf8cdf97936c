"""Tables (pandas) and figures (seaborn) drawn from the workflow's run records only."""
