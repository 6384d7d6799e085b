"""flowcore query kinds for where subscribers are: daily, modal and home locations."""
