"""Command-line shells. Each command parses input and calls one typed function."""
