"""Performance comparisons run by ``make bench`` (not part of ``make test``)."""
