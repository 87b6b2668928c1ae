"""Sources: containers (files, archives, captures) to records. No meaning is given here."""
