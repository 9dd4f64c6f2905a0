"""What runs by itself: jobs by group, the landing and automation sensors, alerts, the schedule."""
