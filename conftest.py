"""Repository root conftest: makes the top-level packages importable in every test, and loads the lanes."""

# The lane markers and their checks (tests/lanes.py): only the root conftest may load a plugin.
pytest_plugins = ["tests.lanes"]
