"""The ``mouselift`` command line: a thin layer over the library API (see :mod:`.main`)."""
