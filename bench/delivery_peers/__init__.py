"""Subjects of the delivery benchmark (bench/deliveries.py): the sink and one module per queue."""
