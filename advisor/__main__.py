"""`python -m advisor`: the command line, also as `torchrun -m advisor ...` or `accelerate launch -m advisor ...`.

Under a launcher the same commands run data-parallel (see backends/distributed.py); without one nothing changes.
"""

from advisor.backends.distributed import run_launched
from advisor.cli import main

if __name__ == "__main__":
    run_launched(lambda: main(prog_name="advisor"))
