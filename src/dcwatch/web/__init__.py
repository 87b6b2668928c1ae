"""The dcwatch web portal and REST API (``dcwatch serve``)."""
