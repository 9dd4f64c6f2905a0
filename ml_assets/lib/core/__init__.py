"""The plumbing every concern shares: files, tables on disk, versions, text."""
