"""Triage: turn probe results into findings (symptom -> cause -> fix, with evidence)."""
