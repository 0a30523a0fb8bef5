"""The domain generator: `make new-domain NAME=invoice` adds a complete, tested domain.

Run it as `python -m app.scripts.new_domain invoice [--plural invoices]` from the project root.
Its templates are plain text in `templates/` (string.Template placeholders such as `$Class`);
edit them to change what every new domain starts with.
"""
