"""seglab.demo: the methods that can run, and those that need an extra, named with it."""

from seglab.demo import DEMO_PARAMS, demo_methods
from seglab.segmenters import get_segmenter_class, list_segmenters


def test_a_method_whose_extra_is_missing_is_skipped_with_the_extra(monkeypatch):
    unet = get_segmenter_class("threshold")  # any class: give it a module nobody has
    monkeypatch.setattr(unet, "requires", ("no_such_module_here",))
    monkeypatch.setattr(unet, "extras", ("made-up",))
    runnable, skipped = demo_methods({"ensemble": {"members": [["threshold", {}]]}})
    assert "threshold" not in runnable
    assert skipped["threshold"] == "needs no_such_module_here: pip install 'seglab[made-up]'"
    # an ensemble made of it cannot run either, and says which member is missing
    assert "ensemble" not in runnable
    assert skipped["ensemble"].startswith("threshold needs no_such_module_here")
    everything = {row["name"] for row in list_segmenters()}
    assert set(runnable) | set(skipped) == everything


def test_every_demo_setting_names_a_method():
    names = {row["name"] for row in list_segmenters()}
    assert set(DEMO_PARAMS) <= names
