"""The six panes of the console, one module each; `catalog.py` lists them (ids, titles,
keys) without importing them, so that the first screen loads the Status pane alone."""
