"""Doctests that read the course data are skipped, with the way to get it, where it is absent."""

import pytest


def pytest_collection_modifyitems(config, items):
    from seglab import DataSetError
    from seglab.data import course_data

    try:
        course_data(fetch=False)
        return
    except DataSetError as exc:
        reason = str(exc)
    for item in items:
        if isinstance(item, pytest.DoctestItem) and "course_data(" in "".join(
            example.source for example in item.dtest.examples
        ):
            item.add_marker(pytest.mark.skip(reason=reason))
