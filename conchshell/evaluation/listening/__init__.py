"""The listening test: its SQLite ratings database (written by the web app) and MOS with confidence intervals."""
