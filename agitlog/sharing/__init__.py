"""Sessions between clones: push, fetch, bundles, git hooks and retention."""
