"""Who has written to whom: the first message from a sender a recipient has never had
mail from (first contact), from a memory of delivered mail kept under keyed hashes."""
