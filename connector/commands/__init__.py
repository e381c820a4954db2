"""click commands, grouped by noun; `credbridge/cli.py` names them."""
