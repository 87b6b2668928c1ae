"""Protocol decoders: bytes or event records in, activities out. No detection logic here."""
