import pytest

# tests/support's helpers assert too (a CSRF token on the page, a reply the OpenAPI document declares): pytest
# rewrites only conftests, plugins and test modules, so it is asked here, before anything imports tests.support,
# to rewrite those as well; otherwise a failing helper would lose its explanation
pytest.register_assert_rewrite("tests.support")
