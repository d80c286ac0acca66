"""What seglab sets up on a dask.distributed cluster's workers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

distributed = pytest.importorskip("distributed")

# Allocates and frees a 4 MB array 50 times, before and after the thresholds are set back, and
# prints the page faults of each round. With Dask's MALLOC_TRIM_THRESHOLD_ each array is a fresh
# mapping, faulted in page by page (about 500 faults per array here); from the heap, freed
# pages are used again (0 faults).
FAULTS = """
import resource
import numpy as np
from seglab.tiling.workers import restore_malloc_thresholds

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        a = np.ones(1 << 20, np.float32)
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

first = faults()
assert restore_malloc_thresholds()
faults()  # the heap grows once
print(first, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_thresholds_set_back_stop_the_page_faults_of_each_large_array():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # what Dask's nanny sets
    done = subprocess.run(
        [sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True
    )
    before, after = (int(v) for v in done.stdout.split())
    assert before > 50 * 200  # hundreds of faults per array, for every array (25,700 here)
    assert after < before / 20


def test_every_worker_runs_the_plugin(tmp_path):
    from seglab.tiling.scheduling import scheduler_context

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with scheduler_context(cluster.scheduler_address) as kwargs:
            client = kwargs["scheduler"]
            plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
            assert len(plugins) == 2
            assert all("seglab-malloc-thresholds" in names for names in plugins.values())
            # a worker that joins later gets it too
            cluster.scale(3)
            client.wait_for_workers(3, timeout=30)
            plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
            assert len(plugins) == 3
            assert all("seglab-malloc-thresholds" in names for names in plugins.values())
