"""The pure scoring core: models, engines, thresholds. No I/O, no clock, no CRM imports."""
