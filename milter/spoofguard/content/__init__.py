"""What a message says: its readable text, extracted and folded for evasion-resistant matching."""
