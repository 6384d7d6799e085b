"""flowcore query kinds about network activity: event counts, network objects, subscriber counts."""
