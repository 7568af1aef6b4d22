"""``python -m mockserver`` is the ``mockserver`` command."""
from .cli import main

main()
