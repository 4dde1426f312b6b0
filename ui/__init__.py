"""The Streamlit dashboard: watch runs, explore lineage and programs, compare and export winners.

Started by ``evolve ui``; reads archives only (``readonly``), queries in ``queries``, figures in
``figures``, one script per page under ``views/``.
"""
