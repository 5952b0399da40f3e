"""Repository root conftest: makes the top-level packages importable in every test, and loads the lanes."""

# The lane markers and their checks (tests/lanes.py) and the fault cases' figures in the summary
# (tests/figures.py): only the root conftest may load a plugin.
pytest_plugins = ["tests.lanes", "tests.figures"]
