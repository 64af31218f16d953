"""Data: loaders of the real data folder, the procedural world and its renderer, and every stand-in generator."""
