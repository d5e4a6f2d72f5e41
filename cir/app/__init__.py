"""The use cases behind the `cir` commands and the Python API: match files, run the demo."""
