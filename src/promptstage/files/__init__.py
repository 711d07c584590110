"""Prompts as plain files (Dotprompt ``.prompt``, Prompty ``.prompty``) and the lock file.

Pure: text in, values out (and back). The CLI (``promptstage files``) reads and writes the
files and talks to the server; nothing here does I/O.
"""
