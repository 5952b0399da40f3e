"""The dispatcher: one leader sends queued leads to Engage (leader, lanes, batching, sender, holds)."""
