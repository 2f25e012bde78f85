"""The migration steps of the MWAA migration guide: export, import, copy task logs (and clone, later)."""
