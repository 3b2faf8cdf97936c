"""Stand-in data: generated files with the real datasets' formats, names, keys and sizes.

Nothing can be downloaded on some machines (and ImageNet never is), yet the real-data rules
should run at the real size. With ``data.stand_in: true`` the workflow writes, under
``data.stand_in_data.dir``, seeded stand-ins for every raw file a real-data experiment reads
and feeds them to the same preprocessing rules (docs/stand-ins.md):

- :mod:`.mosta`: the eight ``<stage>_E1S1.MOSTA.h5ad`` Stereo-seq stages;
- :mod:`.merfish`: Vizgen's ``cell_metadata_S2R<r>.csv.gz`` and ``cell_by_gene_S2R<r>.csv.gz``;
- :mod:`.coco`: ``val2017.zip`` of 5000 JPEGs;
- :mod:`.imagenet`: the ResNet50 embeddings of ILSVRC2012 train, as ``embed_images`` writes them.

Every file carries a marker (:mod:`.markers`) that every reader checks: a stand-in is never
read as real data, and real data is never read as a stand-in.
"""
