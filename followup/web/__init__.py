"""The secretariat's web pages and the focal points' per-item links (to come)."""
