"""网格通 (Grid Governance GIS): grid-based community governance for street offices.

The library behind the CLI (``python -m gis``), the Streamlit app and the
analysts' notebooks. See DESIGN.md for the shape of the system.
"""

__version__ = "0.1.0"
