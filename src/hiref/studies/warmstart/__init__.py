"""Sinkhorn warm starts for colour-palette transfer (rules/warmstart.smk, docs/warmstart.md).

Modules: ``palettes`` (CIELAB k-means palettes of the images), ``model`` (the learned
initializers' networks and their training), ``initializers`` (every start as an ott-jax
initializer), ``experiment`` (the split by photo and Sinkhorn from every start), ``report``
(table and figures) and ``steps`` (one function per workflow rule).
"""
