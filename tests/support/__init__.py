"""Plain helpers shared by test modules and conftests: functions, constants and classes, never fixtures.

A conftest is pytest's to load; importing one re-registers its fixtures in the importer. Helpers live here, named
by subject; fixtures shared by several directories live in tests/fixtures (the root conftest's pytest_plugins)."""
