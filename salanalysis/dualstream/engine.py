"""Former home of the training machinery, kept as re-exports for callers outside the package.

The code now lives in :mod:`~salanalysis.dualstream.distributed`,
:mod:`~salanalysis.dualstream.checkpoint`, :mod:`~salanalysis.dualstream.weights`
and :mod:`~salanalysis.dualstream.loop`; import from there.
"""

from __future__ import annotations

from salanalysis.dualstream.checkpoint import (  # noqa: F401
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    seed_everything,
)
from salanalysis.dualstream.distributed import (  # noqa: F401
    DistInfo,
    all_gather_objects,
    barrier,
    cleanup_distributed,
    resolve_device,
    setup_distributed,
)
from salanalysis.dualstream.loop import autocast  # noqa: F401
from salanalysis.dualstream.weights import (  # noqa: F401
    load_resnet50,
    load_weights_into,
    read_state_dict,
    unwrap_model,
)
