"""Import every built-in solver module so that they register themselves."""

from hetflow.solvers import baselines, cpop, cpsat, dp, exact, heft, peft  # noqa: F401
