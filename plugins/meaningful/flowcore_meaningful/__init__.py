"""flowcore query kinds for meaningful locations: labelled clusters of the sites subscribers use."""
