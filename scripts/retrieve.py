"""Snakemake script: fetch one raw file (URL or local mirror) and verify its checksum.

params: url, checksum (``"sha256:<hex>"``, ``"md5:<hex>"``, a torchvision prefix, or null).
"""

import logging
import sys

from hiref.datasets.download import fetch
from hiref.provenance import job_log


def main(sm) -> None:
    # The downloader's logger, stamped like hiref.provenance.log's lines.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, datefmt="%H:%M:%S",
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    fetch(sm.params.url, sm.output[0], sm.params.checksum)


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
