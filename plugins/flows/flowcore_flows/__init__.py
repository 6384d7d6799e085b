"""flowcore query kinds for movement between locations: flows, inflows and outflows."""
