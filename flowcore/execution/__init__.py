"""Running planned queries: the executor, query states and progress."""
