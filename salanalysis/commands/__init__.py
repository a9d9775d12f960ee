"""Sub-commands of the ``salanalysis`` CLI, one module each (see :mod:`salanalysis.cli`)."""
