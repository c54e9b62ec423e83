"""quality-monitor: watches Chinese government and media sites for quality-province news."""

__version__ = "0.1.0"


def command() -> int:
    """The ``quality-monitor`` command (and ``python -m monitor``): :func:`monitor.cli.main`
    in a process that ends with it, the garbage collector set for that
    (:mod:`monitor.collector`: off while the modules load). Tests call ``main``."""
    from monitor import collector

    collector.begin()
    from monitor.cli import main

    status = main()
    collector.end()
    return status
