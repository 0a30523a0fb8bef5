"""The application uvicorn serves (`app.api.main:app`), as built when the module is imported."""

import gc

import app.api.main


def test_its_startup_objects_are_left_out_of_garbage_collections() -> None:
    assert app.api.main.app.title
    # Modules, routes and schemas: tens of thousands of objects no collection needs to visit.
    assert gc.get_freeze_count() > 10_000
