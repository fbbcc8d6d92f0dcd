"""The outbox: message statuses and legal moves, claim, dispatch, recovery, status callbacks."""
