"""`python -m streams.cli`: the same as the `riskalert` command."""

from streams.cli import main

main()
