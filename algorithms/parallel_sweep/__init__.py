"""The parallel scaling-law experiment of parallel-language RPT (METHODS.md §1): one run per training-language set
(runner), the transfer measures and the power-law fit (transfer), and the report (report)."""
