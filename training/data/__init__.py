"""Training data from real execution.

Seeds (Python functions plus inputs) -> type-aware input mutation -> sandboxed real runs
-> PyX records (`nl`, `fwd_mnl`, `bwd_mnl`, `response`) whose monologues are rendered from
the real traces, and PyX-R records (`fault`, `response`) from AST-injected bugs that make a
test fail. Then dedup, CRUXEval decontamination and a datasheet. See docs/training.md.
"""
