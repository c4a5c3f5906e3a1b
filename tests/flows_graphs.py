"""Small task graphs for the flows tests (a helper module, not tests)."""

from __future__ import annotations

from hetflow.taskgraph import TaskGraph


def layered(layers: int = 4, width: int = 6, seconds: float = 1.0, gpu_only_last: bool = False) -> TaskGraph:
    """Alternating cpu-only "prep" layers and gpu-preferring "embed" layers, each task reading two parents,
    then one "merge" sink. With ``gpu_only_last`` the last embed layer has no cpu cost."""
    g = TaskGraph(name=f"layered-{layers}x{width}")
    prev: list[str] = []
    for layer in range(layers):
        cur = []
        for i in range(width):
            t = f"t{layer}_{i}"
            if layer % 2 == 0:
                g.add_task(t, {"cpu": seconds}, kind="prep")
            elif gpu_only_last and layer == layers - 1:
                g.add_task(t, {"gpu": seconds / 2}, kind="gembed")
            else:
                g.add_task(t, {"cpu": 3 * seconds, "gpu": seconds / 2}, kind="embed")
            for p in (prev[i : i + 1] + prev[(i + 1) % width : (i + 1) % width + 1]) if prev else []:
                g.add_edge(p, t, bytes=1e6)
            cur.append(t)
        prev = cur
    g.add_task("merge", {"cpu": 0.1 * seconds}, kind="merge")
    for p in prev:
        g.add_edge(p, "merge")
    return g.validate()


def two_sinks() -> TaskGraph:
    """a -> b, a -> c (two sinks) with the ``test.add`` op."""
    g = TaskGraph(name="two-sinks")
    g.add_task("a", {"cpu": 0.01}, op="test.add", params={"offset": 1})
    g.add_task("b", {"cpu": 0.01, "gpu": 0.005}, op="test.add", params={"offset": 10})
    g.add_task("c", {"cpu": 0.01}, op="test.add", params={"offset": 100})
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    return g.validate()
