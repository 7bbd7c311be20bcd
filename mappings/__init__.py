"""Declarative YAML field mappings (CRM field <-> canonical field) and their loader."""
