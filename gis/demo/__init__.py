"""The demo district 中原区: real outline and names, synthetic boundaries, staff and incidents."""
