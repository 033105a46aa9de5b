"""Everything that posts or notifies: platform responders, escalation, recording."""
