"""Template test suite. Tiers: T0 (test_render, test_questions, test_static), T1 (test_project,
slow)."""
