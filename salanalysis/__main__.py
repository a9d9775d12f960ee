import sys

from salanalysis.cli import main

sys.exit(main())
