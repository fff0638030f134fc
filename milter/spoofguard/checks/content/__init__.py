"""The content check: the text a reader sees, folded back from evasions, read as the moves
of intimidation mail and weighed against how it is quoted or reported."""
