"""Imbalanced clustering with optimal-transport pseudo-labels (issue 13, part B).

Modules: ``p2ot`` (progressive partial OT, Zhang, Ren and He, ICLR 2024), ``pseudolabels``
(balanced SeLa pseudo-labels, ott-jax Sinkhorn), ``heads`` (optax training of a head on
frozen features), ``metrics`` (Hungarian-matched accuracy, NMI, ARI, head/medium/tail
accuracy), ``datasets`` (long-tailed digits, pbmc68k_reduced, CIFAR-100-LT), ``methods``
(the study's methods and their records) and ``report`` (tables and the figure).
"""
