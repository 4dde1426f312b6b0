"""Dashboard pages (each a Streamlit script run by ``ui/app.py``)."""
