"""Use cases, each in one unit of work: write a version, move a label, roll back, manage keys."""
