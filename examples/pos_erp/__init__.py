"""Example 002: a point of sale pushing orders and points to an ERP (Odoo) over XML-RPC."""
