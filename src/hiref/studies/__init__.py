"""Two studies that live beside the reproduction but do not use HiRef: Sinkhorn warm starts
for colour transfer (``warmstart``, rules/warmstart.smk) and imbalanced clustering with
progressive partial OT pseudo-labels (``clustering``, rules/clustering.smk).

They may import the core package (``hiref.provenance``, ``hiref.accelerator``, ...); the
solver, the methods and the reproduction's reports never import them
(tests/test_studies_apart.py checks it).
"""
