from tlslens.cli import run

run()
