"""chatd server: start-up, app assembly, settings, the hub and the bus."""

__version__ = "0.1.0"
