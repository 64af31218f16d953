"""c3lib: the library behind the executable book of "Connect, Collapse, Corrupt" (Zhang et al., ICLR 2024).

Modules are small and import nothing heavy at import time; chapters import what they use.
"""

__version__ = "0.1.0"
