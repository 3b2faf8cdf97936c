"""Snakemake script: fetch one raw file (URL or local mirror) and verify its checksum.

params: url, checksum (``"sha256:<hex>"``, ``"md5:<hex>"``, a torchvision prefix, or null).
"""

import logging
import sys
from contextlib import redirect_stderr, redirect_stdout

from hiref.datasets.download import fetch


def main(sm) -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    fetch(sm.params.url, sm.output[0], sm.params.checksum)


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
