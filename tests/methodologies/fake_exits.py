"""A methodology module that calls sys.exit() at import, like a plug-in's misplaced script."""

import sys

sys.exit("a plug-in that thinks it is a script")
