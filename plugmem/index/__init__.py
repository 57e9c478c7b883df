"""Search indexes derived from the store: vectors, BM25, fusion."""
