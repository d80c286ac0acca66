from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VOCED = SHARED_DATA / "voced" / "imagedata"

# The course split's 39 test ids, as listed in ../shared/data/voced/README.md (independent of
# seglab's code: it was computed by the course's own notebook).
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


@pytest.fixture(scope="session")
def voced() -> Path:
    if not VOCED.is_dir():
        pytest.fail(f"the course data is missing: {VOCED} (CI and developers have ../shared/data)")
    return VOCED


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"missing {SHARED_DATA}")
    return SHARED_DATA
