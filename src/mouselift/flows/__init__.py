"""End-to-end flows built from the stage packages (the demo now; inference later)."""
