"""The sync: pure bookkeeping (diff, thresholds, scores) and the run that strings it together."""
