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


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small fitted model (nearest-mean on a 2-sigma Gaussian bank) saved to a file: its
    path, the segmenter and the synthetic data set (images 0-3 trained, 4-5 unseen)."""
    import seglab

    ds = seglab.synthetic_cells(6, size=64, random_state=4)
    seg = seglab.make_segmenter(
        "nearest-mean", features={"sigmas": [1.0, 2.0], "filters": ["gaussian"]}
    )
    seg.fit([ds.image(i) for i in range(4)], [ds.mask(i) for i in range(4)])
    path = seglab.save(seg, tmp_path_factory.mktemp("model") / "m.seglab")
    return path, seg, ds


@pytest.fixture()
def course_like(tmp_path):
    """Four synthetic cell images and masks as an images/ + masks/ folder."""
    from seglab.datasets import synthetic_cells
    from seglab.io import save_image, save_mask

    ds = synthetic_cells(4, size=64, random_state=3)
    root = tmp_path / "data"
    for i in range(len(ds)):
        save_image(root / "images" / f"{i}.png", ds.image(i))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    return root


@pytest.fixture(scope="session")
def herlev() -> Path:
    """Pap-smear single cells (images/ + masks/ + classes.csv), 32 to 768 pixels a side."""
    return _data_set("herlev")
