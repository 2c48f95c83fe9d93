import sys

from instrumentid.cli import main

sys.exit(main())
