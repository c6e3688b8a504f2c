"""Sessions as git objects: the format, the journal, records, recovery and the session store."""
