from pathlib import Path

import pytest

from seglab.data import DATA_ENV, data_home

# The course split's 39 test ids, as the course's own notebook computed them (independent of
# seglab's code).
COURSE_TEST_IDS = [
    2,
    10,
    14,
    25,
    28,
    33,
    39,
    43,
    45,
    47,
    49,
    61,
    63,
    73,
    80,
    81,
    85,
    95,
    97,
    100,
    112,
    113,
    115,
    120,
    124,
    127,
    129,
    135,
    150,
    152,
    160,
    166,
    173,
    177,
    180,
    195,
    197,
    198,
    199,
]


def _data_set(name: str) -> Path:
    """A data set of seglab's data folder, or a skip that says how to get it."""
    from seglab import DataSetError
    from seglab.data import course_data

    if name == "voced/imagedata":
        try:
            return course_data(fetch=False)
        except DataSetError as exc:
            pytest.skip(str(exc))
    path = data_home() / name
    if not path.is_dir():
        pytest.skip(
            f"needs the {name} data set: set {DATA_ENV} to a folder holding {name}/"
            " (its README names the public source)"
        )
    return path


@pytest.fixture(scope="session")
def voced() -> Path:
    """The course data (images/ + masks/)."""
    return _data_set("voced/imagedata")


@pytest.fixture(scope="session")
def data_sets(voced) -> Path:
    """The folder holding the data sets by name (voced/imagedata, ...), with the course data."""
    return voced.parents[1]


@pytest.fixture(scope="session")
def bacteria() -> Path:
    return _data_set("bacteria")


@pytest.fixture(scope="session")
def oasis_brain() -> Path:
    return _data_set("oasis-brain")
