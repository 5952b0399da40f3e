"""Repository root conftest: makes the top-level packages importable in every test."""
