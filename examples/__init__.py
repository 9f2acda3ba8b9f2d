"""The five seed systems rebuilt on Conveyor, one folder each; `python -m examples [NAME]`."""
