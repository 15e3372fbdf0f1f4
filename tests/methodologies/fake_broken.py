"""A methodology module whose import fails, like a plug-in with a missing dependency."""

raise ImportError("simulated missing dependency: no module named 'not_installed_lib'")
