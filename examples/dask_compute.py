"""Plan your own Dask code: the README's example.

Run: ``python examples/dask_compute.py``, or from the command line ``hetflow compute examples/dask_compute.py:build``.
"""

import dask.bag as db

import hetflow as hf


def clean(doc):  # your functions, defined anywhere: Dask ships them
    return doc.strip().lower()


def embed(batch):  # fast on a GPU, slow on a CPU
    return [len(d) for d in batch]


def build():
    """The collection to compute (``hetflow compute FILE.py:build`` calls this)."""
    docs = db.from_sequence([f" Document {i} " for i in range(1_000)], npartitions=20)
    cleaned = docs.map(clean)
    with hf.annotate(cost={"gpu": 0.05, "cpu": 0.4}):  # or dask.annotate(resources={"GPU": 1}): GPU only
        vectors = cleaned.map_partitions(embed)
    return vectors.sum()


if __name__ == "__main__":
    (total,) = hf.compute(build())  # current client, else an embedded LocalCluster
    graph, schedule = hf.plan_dask(build())  # the plan alone, for inspection
    print(total, f"planned {schedule.makespan:.2f} s on {len(schedule.workers)} workers")
