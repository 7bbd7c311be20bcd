"""Actions on threshold crossings: configuration, owner assignment, planning, execution, rollup."""
