"""What runs by itself: the automation-condition sensor (and, later, landing sensors, schedules)."""
