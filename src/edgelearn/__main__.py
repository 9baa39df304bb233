import sys

from edgelearn.cli import main

sys.exit(main())
