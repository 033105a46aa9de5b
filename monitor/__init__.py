"""inchannel: social care for X and Reddit, answered in the customer's own thread."""

__version__ = "0.1.0"
