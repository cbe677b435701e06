"""Backups that restore: `radbill backup` / `radbill restore` (archive.py the file format, dump.py the database
and var/ side), and the daily scheduled backup with retention (radbill/services/backups.py)."""
