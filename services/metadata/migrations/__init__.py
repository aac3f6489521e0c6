"""SQL migrations of the metadata service, applied in file-name order (NNNN_name.sql)."""
