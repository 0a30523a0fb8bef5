"""Template test suite. T0: not marked slow (test_render, test_questions, test_versioning,
test_workflow); T1: slow (test_project); T2: update (test_update). See conftest.py."""
