import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.datasets import (
    Dataset,
    course_split,
    grouped_kfold_split,
    kfold_split,
    make_splits,
    open_dataset,
    random_split,
    synthetic_cells,
)
from seglab.errors import DataSetError, ParameterError

from .conftest import COURSE_TEST_IDS


def _write_pair(folder, stem, value=0):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    iio.imwrite(folder / "images" / f"{stem}.png", np.full((4, 4, 3), value, np.uint8))
    iio.imwrite(folder / "masks" / f"{stem}.png", np.full((4, 4), 1, np.uint8))


def test_images_masks_layout_in_natural_order(tmp_path):
    for stem in ("10", "2", "1"):
        _write_pair(tmp_path, stem)
    ds = open_dataset(tmp_path)
    assert ds.ids == ["1", "2", "10"] and ds.has_masks
    image, mask = ds.pair(0)
    assert image.shape == (4, 4, 3) and mask.shape == (4, 4)


def test_course_layout_X_y(tmp_path):
    (tmp_path / "X").mkdir()
    (tmp_path / "y").mkdir()
    np.save(tmp_path / "X" / "0.npy", np.zeros((3, 5, 5), np.float32))
    np.save(tmp_path / "y" / "0.npy", np.ones((5, 5), np.int64))
    ds = open_dataset(tmp_path)
    assert ds.image(0).shape == (5, 5, 3) and ds.mask(0).sum() == 25


def test_train_test_layout_gives_given_split(tmp_path):
    _write_pair(tmp_path / "train", "a")
    _write_pair(tmp_path / "test", "a")
    _write_pair(tmp_path / "test", "b")
    ds = open_dataset(tmp_path)
    assert ds.ids == ["train/a", "test/a", "test/b"]
    ((train, test),) = make_splits(ds)  # default for such a folder is "given"
    assert train.tolist() == [0] and test.tolist() == [1, 2]


def test_missing_mask_and_bad_folders(tmp_path):
    _write_pair(tmp_path, "a")
    iio.imwrite(tmp_path / "images" / "b.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataSetError, match="no mask"):
        open_dataset(tmp_path)
    with pytest.raises(DataSetError, match="no such folder"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataSetError, match="unknown layout"):
        open_dataset(tmp_path / "other")


def test_image_mask_size_mismatch(tmp_path):
    _write_pair(tmp_path, "a")
    iio.imwrite(tmp_path / "masks" / "a.png", np.zeros((3, 4), np.uint8))
    with pytest.raises(DataSetError, match="its mask is 3x4"):
        open_dataset(tmp_path).pair(0)


def test_course_split_matches_the_course(voced):
    ds = open_dataset(voced)
    train, test = course_split(ds)
    assert len(train) == 152 and len(test) == 39
    assert sorted(int(ds.ids[i]) for i in test) == COURSE_TEST_IDS
    assert not set(train) & set(test)
    dropped = set(range(200)) - set(train) - set(test)
    assert sorted(int(ds.ids[i]) for i in dropped) == [34, 36, 56, 118, 121, 122, 133, 134, 156]


def test_random_and_kfold_partition():
    train, test = random_split(50, seed=3)
    assert len(test) == 10 and sorted([*train, *test]) == list(range(50))
    folds = kfold_split(23, k=5)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(23))
    for tr, te in folds:
        assert not set(tr) & set(te)


def test_grouped_kfold_keeps_groups_in_one_fold_and_the_rest_in_place():
    groups = [[3, 17], [5, 6, 20], [0, 22]]
    plain = kfold_split(23, k=5)
    folds = grouped_kfold_split(23, groups, k=5)
    assert len(folds) == 5
    fold_of = {int(i): f for f, (_, te) in enumerate(folds) for i in te}
    plain_fold_of = {int(i): f for f, (_, te) in enumerate(plain) for i in te}
    assert sorted(fold_of) == list(range(23))  # every image tested exactly once
    for tr, te in folds:
        assert sorted([*tr, *te]) == list(range(23))
    for group in groups:
        # Together, in the fold where kfold put the group's lowest index.
        assert {fold_of[i] for i in group} == {plain_fold_of[min(group)]}
    grouped = {i for g in groups for i in g}
    assert all(fold_of[i] == plain_fold_of[i] for i in range(23) if i not in grouped)
    # Without groups it is kfold itself.
    for (tr, te), (tr0, te0) in zip(grouped_kfold_split(23, [], k=5), plain, strict=True):
        np.testing.assert_array_equal(te, te0)
        np.testing.assert_array_equal(tr, tr0)
    with pytest.raises(ParameterError, match="outside"):
        grouped_kfold_split(5, [[1, 5]], k=2)
    with pytest.raises(ParameterError, match="empty"):  # one group of everything
        grouped_kfold_split(4, [[0, 1, 2, 3]], k=2)


def test_groupkfold_split_keeps_a_planted_copy_with_its_original():
    from seglab.bench import format_leaderboard, run_bench

    cells = synthetic_cells(10, size=64, random_state=0)
    folds = make_splits(cells, "kfold:2")
    # Plant a turned copy of an image of fold 0 in place of an image of fold 1.
    source, target = int(folds[0][1][0]), int(folds[1][1][0])
    images, masks = list(cells.images), list(cells.masks)
    images[target], masks[target] = np.rot90(images[source]), np.rot90(masks[source])
    planted = type(cells)(images=images, masks=masks, class_names=cells.class_names)
    leaky = run_bench(planted, ["threshold"], split="kfold:2")
    assert sorted(leaky["near_duplicates"]["test_with_duplicate_in_train"]) == sorted(
        [str(source), str(target)]
    )
    grouped = make_splits(planted, "groupkfold:2")
    for _, test in grouped:
        assert (source in test) == (target in test)
    clean = run_bench(planted, ["threshold"], split="groupkfold:2")
    assert clean["near_duplicates"]["test_with_duplicate_in_train"] == []
    assert "1 group (2 images)" in format_leaderboard(clean)
    assert "no test image has one" in format_leaderboard(clean)
    assert "without_near_duplicates" not in clean["methods"][0]
    assert sorted(r["id"] for r in clean["methods"][0]["per_image"]) == sorted(cells.ids)
    with pytest.raises(ParameterError, match="K must be"):
        make_splits(planted, "groupkfold:11")
    with pytest.raises(ParameterError, match="integer"):
        make_splits(planted, "groupkfold:x")


def test_split_spec_errors():
    ds = synthetic_cells(3, size=64)
    with pytest.raises(ParameterError, match="use one of"):
        make_splits(ds, "holdout")
    with pytest.raises(ParameterError, match="no train/"):
        make_splits(ds, "given")
    with pytest.raises(ParameterError):
        make_splits(ds, "kfold:9")


def test_synthetic_cells_are_repeatable_and_exact():
    a, b = synthetic_cells(3, size=96, random_state=5), synthetic_cells(3, size=96, random_state=5)
    for i in range(3):
        np.testing.assert_array_equal(a.image(i), b.image(i))
        np.testing.assert_array_equal(a.mask(i), b.mask(i))
    c = synthetic_cells(3, size=96, random_state=6)
    assert not np.array_equal(a.image(0), c.image(0))


def test_synthetic_cells_span_normal_to_malignant_ratios():
    ds = synthetic_cells(30, size=128)
    ratios = []
    for i in range(len(ds)):
        mask = ds.mask(i)
        assert set(np.unique(mask)) <= {0, 1, 2}
        image = ds.image(i)
        assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
        ratios.append((mask == 2).sum() / max((mask == 1).sum(), 1))
    assert min(ratios) < 0.2 and max(ratios) > 0.8
    # Nucleus darker than cytoplasm darker than background, on average.
    grey = [ds.image(i).mean(-1) for i in range(5)]
    means = [np.mean([g[ds.mask(i) == k].mean() for i, g in enumerate(grey)]) for k in range(3)]
    assert means[2] < means[1] < means[0]


def _smooth_random(seed, size=64):
    """A textured test picture: Gaussian-smoothed noise, RGB."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    return np.stack([ndi.gaussian_filter(rng.random((size, size)), 2) for _ in range(3)], -1)


def test_near_duplicates_finds_turned_flipped_and_rescaled_copies():
    from skimage.transform import resize

    from seglab.datasets import Dataset, near_duplicates

    a, b, c = (_smooth_random(s) for s in (1, 2, 3))
    images = [
        a,  # 0
        b,  # 1
        np.rot90(a, 1),  # 2: a turned
        c,  # 3
        b[::-1],  # 4: b flipped
        resize(a, (96, 96)),  # 5: a at another size
        np.rot90(c, 2)[:, ::-1] + 0.01,  # 6: c turned, flipped and brightened
    ]
    assert near_duplicates(Dataset(images=images)) == [[0, 2, 5], [1, 4], [3, 6]]
    # Distinct pictures are not grouped, however many there are.
    assert near_duplicates(Dataset(images=[_smooth_random(s) for s in range(10, 30)])) == []


def test_near_duplicates_and_duplicates_across_validate_and_count():
    from seglab.datasets import Dataset, duplicates_across, near_duplicates

    ds = Dataset(images=[_smooth_random(1), _smooth_random(2)])
    with pytest.raises(ParameterError, match="threshold"):
        near_duplicates(ds, threshold=0)
    with pytest.raises(ParameterError, match="size"):
        near_duplicates(ds, size=2)
    # A flat image has no texture to match: it is nobody's duplicate, not even another flat one.
    flat = Dataset(images=[np.zeros((8, 8)), np.zeros((8, 8))])
    assert near_duplicates(flat) == []
    groups = [[0, 4, 7], [1, 2]]
    # 4 leaks through 0 (train); 7 too; 2's only twin (1) is a test image, so 2 does not leak.
    assert duplicates_across(groups, train=[0, 3, 5], test=[1, 2, 4, 7]) == [4, 7]
    assert duplicates_across(groups, train=[3, 5], test=[0, 1, 2, 4, 7]) == []


def test_bench_reports_test_images_with_a_copy_in_training():
    from seglab.bench import format_leaderboard, run_bench

    cells = synthetic_cells(8, size=64, random_state=0)
    train, test = make_splits(cells, "random:0")[0]
    # Plant a turned copy of a training image (and its mask) in place of the first test image.
    source, target = int(train[0]), int(test[0])
    images, masks = list(cells.images), list(cells.masks)
    images[target], masks[target] = np.rot90(images[source]), np.rot90(masks[source])
    planted = type(cells)(images=images, masks=masks, class_names=cells.class_names)
    result = run_bench(planted, ["threshold"], split="random:0")
    report = result["near_duplicates"]
    assert report["test_with_duplicate_in_train"] == [str(target)]
    assert [str(source), str(target)] in report["groups"]
    method = result["methods"][0]
    others = [r for r in method["per_image"] if r["id"] != str(target)]
    assert method["without_near_duplicates"]["n"] == len(test) - 1
    assert method["without_near_duplicates"]["score"] == pytest.approx(
        np.mean([r["score"] for r in others])
    )
    assert "1 of 2 test images" in format_leaderboard(result)
    # Split "all" trains on the test images themselves: nothing to report.
    assert "near_duplicates" not in run_bench(planted, ["threshold"], split="all")


def test_near_duplicates_skips_an_unreadable_image_only_when_asked(tmp_path):
    from seglab.datasets import Dataset, near_duplicates
    from seglab.errors import ImageReadError

    a = (_smooth_random(1) * 255).astype(np.uint8)
    for name, image in (("a", a), ("b", np.rot90(a))):
        iio.imwrite(tmp_path / f"{name}.png", image)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    ds = Dataset(images=[tmp_path / "a.png", tmp_path / "broken.png", tmp_path / "b.png"])
    with pytest.raises(ImageReadError):
        near_duplicates(ds)
    assert near_duplicates(ds, skip_unreadable=True) == [[0, 2]]
    # groupkfold folds around it: the copies share a fold, the broken file is left to whoever
    # reads it for training or scoring.
    # (kfold:2 alone tests 1 and 2 together, 0 apart.)
    folds = make_splits(ds, "groupkfold:2")
    assert [test.tolist() for _, test in folds] == [[1], [0, 2]]


@given(st.integers(2, 120), st.integers(0, 10_000))
@settings(max_examples=100, deadline=None)
def test_random_split_partitions(n, seed):
    train, test = random_split(n, seed=seed)
    assert sorted([*train, *test]) == list(range(n)) and len(test) >= 1


@given(st.integers(2, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(2, n))))
@settings(max_examples=100, deadline=None)
def test_kfold_tests_each_image_once(nk):
    n, k = nk
    tested = np.concatenate([te for _, te in kfold_split(n, k)])
    assert sorted(tested.tolist()) == list(range(n))


def test_odd_even_split_of_the_herlev_cells_has_every_class_on_both_sides(herlev):
    import csv

    data = open_dataset(herlev)
    ((train, test),) = make_splits(data, "odd-even")
    assert len(train) == 229 and len(test) == 229
    assert all(int(data.ids[i]) % 2 == 1 for i in train)
    assert all(int(data.ids[i]) % 2 == 0 for i in test)
    with open(herlev / "classes.csv", newline="") as file:
        kind = {row["stem"]: row["class"] for row in csv.DictReader(file)}
    assert {kind[data.ids[i]] for i in train} == {kind[data.ids[i]] for i in test}
    assert len({kind[s] for s in data.ids}) == 7


def test_odd_even_split_needs_numbered_images():
    data = Dataset(images=[np.zeros((4, 4))] * 2, ids=["a", "b"])
    with pytest.raises(ParameterError, match="'a' is not numbered"):
        make_splits(data, "odd-even")


def test_a_classes_file_gives_each_image_its_class(tmp_path):
    for stem in ("001", "002", "003"):
        _write_pair(tmp_path, stem)
    (tmp_path / "classes.csv").write_text("stem,class,group\n001,a,x\n003,b,y\n009,c,z\n")
    ds = open_dataset(tmp_path)
    # 009 names no image here; 002 has no class.
    assert ds.image_classes == {"001": "a", "003": "b"}
    (tmp_path / "classes.csv").write_text("stem,class\n777,a\n")
    with pytest.raises(DataSetError, match="names none of the images"):
        open_dataset(tmp_path)
    (tmp_path / "classes.csv").write_text("name,kind\n001,a\n")
    with pytest.raises(DataSetError, match="expected a 'stem'"):
        open_dataset(tmp_path)
    (tmp_path / "classes.csv").unlink()
    assert open_dataset(tmp_path).image_classes is None
