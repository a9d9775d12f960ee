# Types of the lazy top-level names of salanalysis/__init__.py (PEP 562 __getattr__).
from salanalysis.clutter import run_clutter as run_clutter
from salanalysis.coco import Annotations as Annotations
from salanalysis.compare import run_compare as run_compare
from salanalysis.errors import InputError as InputError
from salanalysis.errors import InputWarning as InputWarning
from salanalysis.figures import FIGURES as FIGURES
from salanalysis.figures import draw_figure as draw_figure
from salanalysis.metrics import run_metrics as run_metrics
from salanalysis.metrics.rules import MetricRules as MetricRules
from salanalysis.objects_run import run_objects as run_objects
from salanalysis.scores import Scores as Scores
from salanalysis.stats import run_stats as run_stats

__version__: str
__all__: list[str]
