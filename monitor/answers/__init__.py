"""The knowledge base: answers to common questions, posted in the customer's thread."""
