"""Planning: protocol and clinic policy into planned outbox rows; re-plans as row diffs."""
