"""`python -m edgepub` is the `edgepub` command."""

from edgepub.cli import main

main()
