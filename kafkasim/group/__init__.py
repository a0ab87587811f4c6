"""Consumer groups: the group coordinator (broker side), membership (client side), assignors.

Kafka: the classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
OffsetCommit, OffsetFetch), KIP-429 cooperative rebalancing, KIP-345 static membership.
"""
