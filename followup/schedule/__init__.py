"""The schedule: due rules and occurrences, reminder policies, send windows and the planner.

Rules here are plain functions of data and a clock; the planner writes their
result (outbox rows) to the store. Nothing here knows how an email is built,
sent or read.
"""
