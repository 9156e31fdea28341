"""Pure rules: no database, no Streamlit, no folium. Frames in, frames out."""
