"""Does averaging `rf`'s and the U-Net's probabilities beat either alone on the course split?

The two make different mistakes: `rf` sees only a pixel's neighbourhood, so a nucleus merged
with dark cytoplasm becomes one large nucleus blob; the U-Net has a shape prior but misses
some small or pale nuclei. This fits the default `rf` on the course split's 152 training images
(or loads one), loads a U-Net trained on the same images (`benchmarks/unet.py --save`), and
scores the 39 test images for several weights of the U-Net in the average. `rf`'s
probabilities are first multiplied by its class weights (its prior correction) and
renormalised, so a U-Net weight of 0 reproduces `rf`'s own masks exactly and 1 the U-Net's.
The weights are scored on the test images themselves: only the plain 0.5 average is free of
that selection. Usage, from the project root (about 3 minutes on 2 cores):

    .venv/bin/python benchmarks/experiments/prob_average.py --unet UNET.seglab [--rf RF.seglab]
"""

from __future__ import annotations

import argparse

import numpy as np

from seglab.bench import run_header, score_predictions
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.modelfile import load
from seglab.segmenters.pixel import RandomForestSegmenter

DATA = course_data_path()  # `seglab data` fetches it
CLASSES = ("background", "cytoplasm", "nucleus")


def rf_probabilities(model, image: np.ndarray) -> np.ndarray:
    """`rf`'s probabilities, prior-corrected (its class weights applied and renormalised)."""
    return model.predict_proba(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unet", required=True, metavar="MODEL.seglab")
    parser.add_argument("--rf", metavar="MODEL.seglab", help="default: fit the default rf")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1", help="U-Net weights to try")
    args = parser.parse_args()
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    unet = load(args.unet)
    if args.rf:
        rf = load(args.rf)
    else:
        rf = RandomForestSegmenter().fit(
            [dataset.image(int(i)) for i in train], [dataset.mask(int(i)) for i in train]
        )
    for model in (rf, unet):
        if list(model.classes_) != [0, 1, 2]:
            raise SystemExit(f"{model.name}: expected classes 0, 1, 2, got {list(model.classes_)}")
    rows = []
    for i in test:
        image, mask = dataset.pair(int(i))
        rows.append((str(int(i)), mask, rf_probabilities(rf, image), unet.predict_proba(image)))
    print(run_header())
    print("U-Net weight | test Dice | nucleus Dice | N/C MAE | within ±0.05 | N/C bias")
    for weight in (float(w) for w in args.weights.split(",")):
        result = score_predictions(
            (
                (image_id, mask, ((1 - weight) * p_rf + weight * p_unet).argmax(-1))
                for image_id, mask, p_rf, p_unet in rows
            ),
            CLASSES,
        )
        nc = result["nc"]
        print(
            f"{weight:.2f} | {result['score']['mean']:.3f} | {result['dice']['nucleus']:.3f} | "
            f"{nc['mae']:.3f} | {nc['within_0.05']:.2f} | {nc['bias']:+.3f}"
        )


if __name__ == "__main__":
    main()
