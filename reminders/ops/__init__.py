"""Operations: the overview, listings, a patient's timeline, operator actions, metrics."""
