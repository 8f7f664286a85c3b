"""Domain adaptation: the same task on shifted data, judged against the source-only model."""
