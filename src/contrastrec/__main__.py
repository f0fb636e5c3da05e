import sys

from contrastrec.cli import main

sys.exit(main())
