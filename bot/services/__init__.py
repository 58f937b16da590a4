"""Services own the data: each module reads and writes its own tables through a Session."""
