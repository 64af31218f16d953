"""One module per chapter of the book: its config, its experiment (``run``) and its claims."""
