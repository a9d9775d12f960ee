"""One command from a configuration to every figure, table and the report.

:func:`reproduce` runs the stages

    inputs -> maps (built-in saliency) -> objects -> metrics -> stats -> clutter
    -> compare -> cam -> figures -> report

(a built-in saliency source such as the center bias depends only on the image size:
the objects stage computes one map per size, so no map is written or cached per image;
``salanalysis saliency baseline`` writes such maps to a folder when asked)

each a thin call of the module that owns the computation
(:mod:`~salanalysis.objects`, :mod:`~salanalysis.metrics`,
:mod:`~salanalysis.stats`, :mod:`~salanalysis.clutter`,
:mod:`~salanalysis.compare`, :mod:`~salanalysis.plotting`,
:mod:`~salanalysis.report`), and writes into one output folder::

    OUT/report.html               one self-contained page: findings, figures, tables, inputs, gaps
    OUT/config.resolved.toml      the configuration as run (absolute paths, defaults)
    OUT/stages.json               stage log: key, status (computed | cached | skipped | read), seconds,
                                  cpu_seconds
    OUT/objects.parquet           the object table; OUT/images.csv the image table
    OUT/tables/NAME.{csv,md,tex}  every result table (CSV: fractions, full precision)
    OUT/figures/NAME.{pdf,png}    every figure (PDF with TrueType fonts, PNG at 300 dpi)
    OUT/.cache/                   stage results, reused while inputs and parameters match

Cache
-----
A stage's key is the SHA-256 of its name and version, its parameters, the
content digests of the input files it reads (annotation file, score files,
every map file of a saliency folder, checkpoints) and the keys of the stages it
uses. When an entry with that key exists the stage is not run again (``cached``
in ``stages.json``), unless ``force``. Entries are written atomically (a
temporary folder renamed into place); older entries of a stage are removed
once a run finishes.

Everything a user can get wrong in the configuration is checked by
:mod:`salanalysis.config` before any stage runs.
"""

from salanalysis.reproduce.main import TABLES, ReproduceResult, reproduce
from salanalysis.reproduce.run import STAGES, StageRecord

__all__ = ["StageRecord", "ReproduceResult", "reproduce", "STAGES", "TABLES"]
