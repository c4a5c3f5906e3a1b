"""Your own functions as ops of a hetflow TaskGraph: the README's example (python examples/user_functions.py)."""

import hetflow as hf


def load(n):
    return list(range(n))


def square_all(values, device=None):  # `device`, `worker`, `task` are passed when accepted
    return [v * v for v in values], device


if __name__ == "__main__":
    g = hf.TaskGraph(name="mine")
    g.add_task("load", {"cpu": 0.1}, kind="load", op=load, params={"n": 5})
    g.add_task("square", {"cpu": 1.0, "gpu": 0.1}, kind="square", op=square_all)
    g.add_edge("load", "square", bytes=40)
    record = hf.run_plan(g, cluster=hf.Cluster.local(gpus=1, cpus=2))
    print(record.results)  # {'square': ([0, 1, 4, 9, 16], 'gpu')}
