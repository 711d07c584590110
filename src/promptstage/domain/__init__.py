"""Pure domain: names, versions, digests, templates, labels. No I/O, no clock."""
