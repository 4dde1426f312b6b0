"""Search: MAP-Elites cells, parent and inspiration selection, island migration."""
