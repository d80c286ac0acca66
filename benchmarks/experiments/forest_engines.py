"""`rf`'s forest through other engines: Treelite's interpreter, Treelite compiled, ONNX Runtime.

Issue 53 asks for the forest as compiled code or vectorised arrays, whichever measures fastest.
This fits `rf` (defaults) on 40 course training images, takes the first stage's forest and the
work-scale features of one course image (16,384 pixels, 78 features), and times, in one
process and in turns, the forest's class probabilities through `seglab.forest.forest_proba`
(scikit-learn's tree walks in seglab's thread pool), Treelite's GTIL interpreter, a shared
library compiled by tl2cgen with gcc, and ONNX Runtime (the model converted by skl2onnx):
median of 10 calls each on 2 threads, and each one's largest difference from `forest_proba`.
The engines are not seglab's dependencies; install them first:

    .venv/bin/pip install treelite tl2cgen skl2onnx onnxruntime
    .venv/bin/python benchmarks/experiments/forest_engines.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from seglab import forest
from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import course_split, open_dataset
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it


def _median_ms(call, repeats: int = 10) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    import onnxruntime
    import tl2cgen
    import treelite
    import treelite.gtil
    from skl2onnx import to_onnx

    dataset = open_dataset(DATA)
    train, test = course_split(dataset)
    pairs = [dataset.pair(int(i)) for i in train[:40]]
    model = make_segmenter("rf").fit([p[0] for p in pairs], [p[1] for p in pairs])
    clf = model.classifier_
    features = model._features(dataset.pair(int(test[0]))[0])
    x = np.ascontiguousarray(features.reshape(-1, features.shape[-1]), np.float32)
    reference = forest.forest_proba(clf, x, -1)
    engines = {"seglab.forest (scikit-learn's tree walks)": lambda: forest.forest_proba(clf, x, -1)}
    setup = {}

    imported = treelite.sklearn.import_model(clf)
    engines["Treelite GTIL interpreter"] = lambda: treelite.gtil.predict(imported, x, nthread=2)
    with tempfile.TemporaryDirectory() as tmp:
        library = str(Path(tmp) / "forest.so")
        start = time.perf_counter()
        # split into 40 files compiled in parallel: one file of 229k nodes took gcc over 16 min
        tl2cgen.export_lib(
            imported, toolchain="gcc", libpath=library, params={"parallel_comp": 40}, nthread=2
        )
        setup["Treelite compiled (tl2cgen, gcc)"] = time.perf_counter() - start
        predictor = tl2cgen.Predictor(library, nthread=2)
        matrix = tl2cgen.DMatrix(x)
        engines["Treelite compiled (tl2cgen, gcc)"] = lambda: predictor.predict(matrix)
        start = time.perf_counter()
        graph = to_onnx(
            clf, x[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3}
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 2
        session = onnxruntime.InferenceSession(graph.SerializeToString(), options)
        setup["ONNX Runtime (skl2onnx)"] = time.perf_counter() - start
        name = session.get_inputs()[0].name
        engines["ONNX Runtime (skl2onnx)"] = lambda: session.run(None, {name: x})[1]
        print(run_header())
        nodes = sum(tree.tree_.node_count for tree in clf.estimators_)
        print(
            f"rf (defaults) stage 1 forest: {len(clf.estimators_)} trees, {nodes} nodes;"
            f" {x.shape[0]} pixels x {x.shape[1]} features; 2 threads; median of 10 calls"
        )
        for label, call in engines.items():
            ms = _median_ms(call)
            diff = np.abs(np.asarray(call()).reshape(reference.shape) - reference).max()
            built = f", built in {setup[label]:.1f} s" if label in setup else ""
            print(f"  {label:<44} {ms:6.1f} ms  (largest difference {diff:.1e}{built})")


if __name__ == "__main__":
    main()
